"""``manage.py prometheus_rules``: print meshui's recording rules for this deployment."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from metrics.rules import render_rules


class Command(BaseCommand):
    help = (
        "Print meshui's Prometheus recording rules (docs/prometheus-rules.yaml is the output with no "
        "scope). Pass the label names of MESHUI_PROMETHEUS_SCOPE with --scope-label so the recorded "
        "series keep them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scope-label",
            action="append",
            default=[],
            metavar="LABEL",
            help="a label of MESHUI_PROMETHEUS_SCOPE to keep on every recorded series (repeatable)",
        )

    def handle(self, *args: object, **options: object) -> None:
        labels = options["scope_label"]
        assert isinstance(labels, list)
        self.stdout.write(render_rules(labels), ending="")
