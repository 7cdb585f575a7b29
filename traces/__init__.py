"""Traces: Jaeger (or the demo mesh) behind one trace source; see docs/decisions/0010-traces.md."""
