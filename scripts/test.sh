#!/usr/bin/env bash
# Everything `make test` runs after installing: start the local services the tests use when
# they are down (and stop exactly those afterwards), lint, Django checks, then every test.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
state_dir="$(mktemp -d /tmp/meshui-test.XXXXXX)"
started_redis_pid=""
started_postgres=""

cleanup() {
  if [ -n "$started_redis_pid" ]; then kill "$started_redis_pid" 2>/dev/null; fi
  if [ -n "$started_postgres" ]; then pg_ctlcluster --skip-systemctl-redirect $started_postgres stop >/dev/null 2>&1; fi
  rm -rf "$state_dir"
}
trap cleanup EXIT

port_open() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }

if ! port_open 6379; then
  echo "starting Redis on 127.0.0.1:6379 for the tests"
  redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir "$state_dir" \
    --daemonize yes --pidfile "$state_dir/redis.pid" --logfile "$state_dir/redis.log"
  for _ in $(seq 50); do port_open 6379 && break; sleep 0.1; done
  started_redis_pid="$(cat "$state_dir/redis.pid")"
fi
if ! port_open 5432; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "starting PostgreSQL $version on 127.0.0.1:5432 for the tests"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  started_postgres="$version main"
  for _ in $(seq 50); do port_open 5432 && break; sleep 0.1; done
fi

status=0
step() { echo "==> $*"; "$@" || status=1; }

export MESHUI_DATA_DIR="$state_dir/data"
step ruff check .
step lint-imports
step python manage.py check --fail-level WARNING
step python manage.py makemigrations --check --dry-run
step python manage.py spectacular --validate --fail-on-warn --file "$state_dir/openapi.yaml"
step node --test static/js/tests/
step python -m pytest -p no:cacheprovider
exit $status
