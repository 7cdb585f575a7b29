"""The metrics API: lists with health, per-target range series, mesh health, the overview."""
