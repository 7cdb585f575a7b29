#!/usr/bin/env bash
# Serve the dashboard on the embedded defaults: SQLite under ./var, in-memory channel layer,
# no Redis, anonymous read on. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8000}"
export MESHUI_ANONYMOUS_READ="${MESHUI_ANONYMOUS_READ:-true}"
export MESHUI_DATA_DIR="${MESHUI_DATA_DIR:-$PWD/var}"
py=.venv/bin/python
$py manage.py migrate --noinput -v 0
$py manage.py collectstatic --noinput -v 0
if [ -z "${MESHUI_PROMETHEUS_URL:-}" ]; then
  # An operator account to drive the demo (traffic changes); its password is kept in the data
  # directory across restarts (`manage.py demo_operator --reset` makes a new one).
  $py manage.py demo_operator
fi
echo "meshui: serving on http://127.0.0.1:${port}/ (anonymous read is on; Ctrl-C stops)"
if [ -z "${MESHUI_PROMETHEUS_URL:-}" ]; then
  echo "meshui: telemetry from the built-in demo mesh (set MESHUI_PROMETHEUS_URL to watch a real one)"
fi
# exec: daphne receives Ctrl-C itself and shuts down cleanly.
exec .venv/bin/daphne -b 127.0.0.1 -p "$port" meshui.asgi:application
