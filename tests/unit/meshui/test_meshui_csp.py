"""Every answer carries meshui's strict Content-Security-Policy, and the pages need nothing more."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self' {ws}://testserver; worker-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)


@pytest.mark.parametrize("path", ["/login/", "/healthz", "/api/v1/graph", "/no-such-page", "/admin/login/"])
def test_every_answer_has_the_policy(db, client, path):
    response = client.get(path)
    assert response["Content-Security-Policy"] == POLICY.format(ws="ws")


def test_over_tls_the_websocket_is_wss(db, client):
    response = client.get("/login/", secure=True)
    assert response["Content-Security-Policy"] == POLICY.format(ws="wss")


def test_a_refused_host_is_not_echoed_into_the_policy(db, client):
    response = client.get("/healthz", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "evil.example" not in response["Content-Security-Policy"]
    assert "connect-src 'self';" in response["Content-Security-Policy"]


# What the policy refuses in markup: inline scripts, inline event handlers, style attributes,
# <style> blocks and javascript: URLs. Pages and the HTML the scripts build must use none.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=\s*[\"']|\sstyle\s*=\s*[\"'$]|<style[\s>]|javascript:", re.IGNORECASE
)


def sources() -> list[Path]:
    files = [*(REPO / "templates").rglob("*.html"), *(REPO / "static" / "js").rglob("*.js")]
    return sorted(f for f in files if "tests" not in f.relative_to(REPO).parts[2:])


def test_no_page_or_script_needs_inline_script_or_style():
    found = [
        f"{path.relative_to(REPO)}:{number}: {match.group(0)}"
        for path in sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in INLINE.finditer(line)
    ]
    assert found == []
