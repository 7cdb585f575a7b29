"""System checks: configuration that is local (files), so it can be verified at start-up."""

import yaml
from django.core.checks import Error, register


@register()
def check_health_rules(app_configs, **kwargs) -> list[Error]:  # type: ignore[no-untyped-def]
    """``MESHUI_HEALTH_RULES_FILE`` parses into health rules (meshui.E001 otherwise)."""
    from topology.service import health_rules

    health_rules.cache_clear()
    try:
        health_rules()
    except (ValueError, OSError, yaml.YAMLError) as exc:
        return [Error(f"MESHUI_HEALTH_RULES_FILE is not valid: {exc}", id="meshui.E001")]
    return []
