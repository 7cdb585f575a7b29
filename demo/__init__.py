"""The built-in demo mesh: the telemetry meshui shows when no Prometheus is configured."""
