"""The pure graph core: telemetry samples in, a service graph with health out.

Nothing in this package imports Django, performs I/O or reads settings; an import-linter
contract in ``pyproject.toml`` keeps it that way. Callers pass data and options in and get
plain data back, so every function here is tested with literal data.
"""
