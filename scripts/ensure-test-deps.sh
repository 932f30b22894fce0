#!/usr/bin/env bash
# Make sure what the test suite needs is on this machine: a reachable PostgreSQL, and headless
# Chromium (with CJK fonts and zbarimg) for the browser tests.
# Idempotent; never fails the run by itself. Without PostgreSQL or Chromium (and outside CI) their
# tests skip with a reason; under CI=true they must run, so this script installs and starts what it can.
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

can_apt() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

ensure_postgres() {
  if pg_up; then
    echo "test-deps: PostgreSQL is up on $PGHOST:$PGPORT"
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "${CI:-}" = "true" ] && can_apt; then
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
}

# Debian's chromium (and its driver, for later UI tests), CJK fonts so Chinese renders, and
# zbarimg to decode the QR codes the browser tests print.
ensure_browser() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)
  if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
    missing+=(fonts-noto-cjk)
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    echo "test-deps: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), CJK fonts and zbarimg are present"
    return
  fi
  if ! can_apt; then
    echo "test-deps: missing ${missing[*]} (not root with apt-get); the browser tests will skip (or fail under CI=true)"
    return
  fi
  # Refresh the package lists only when apt does not know the packages yet.
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
  fi
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    echo "test-deps: installed ${missing[*]}"
  else
    echo "test-deps: could not install ${missing[*]}; the browser tests will skip (or fail under CI=true)"
  fi
}

ensure_postgres
ensure_browser
exit 0
