"""Prometheus: the only door to it (client), PromQL builders, response parsing, the telemetry reader."""
