#!/usr/bin/env bash
# Make sure what the test suite needs is on this machine: a reachable PostgreSQL.
# Idempotent. Without PostgreSQL (and outside CI) the PostgreSQL tests skip with a reason;
# under CI=true they must run, so this script installs and starts it if it can.
set -u
PGHOST=127.0.0.1
PGPORT=5432

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PGHOST" -p "$PGPORT"
  else
    (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null
  fi
}

if pg_up; then
  echo "test-deps: PostgreSQL is up on $PGHOST:$PGPORT"
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "${CI:-}" = "true" ] && [ "$(id -u)" = 0 ] \
   && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing PostgreSQL"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    echo "test-deps: starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
fi

if pg_up; then
  echo "test-deps: PostgreSQL is up on $PGHOST:$PGPORT"
else
  echo "test-deps: PostgreSQL is not reachable on $PGHOST:$PGPORT; its tests will skip (or fail under CI=true)"
fi
exit 0
