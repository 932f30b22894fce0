#!/usr/bin/env bash
# Make sure what the test suite needs is on this machine: a reachable PostgreSQL, headless
# Chromium (with CJK fonts and zbarimg) for the browser tests, and the system libraries Qt needs
# for the desktop window's test (pywebview + PyQt6 come from pip: the storedesk[desktop] extra).
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

# The libraries PyQt6 / Qt WebEngine load (Debian 12 names); the window test runs Qt offscreen, the
# xcb ones are for a real display or Xvfb ("Could not load the Qt platform plugin xcb" without them).
QT_LIBS=(libegl1 libgl1 libgbm1 libnss3 libasound2 libdbus-1-3 libfontconfig1 libglib2.0-0
  libxkbcommon0 libxkbcommon-x11-0 libxkbfile1 libxcomposite1 libxdamage1 libxtst6 libxrandr2
  libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xkb1)

ensure_qt_libs() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "test-deps: not a Debian system; the window test needs Qt's libraries (it skips without them, fails under CI=true)"
    return
  fi
  local missing=() pkg
  for pkg in "${QT_LIBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "test-deps: Qt's system libraries are present"
    return
  fi
  if ! can_apt; then
    echo "test-deps: missing ${missing[*]} (not root with apt-get); the window test will skip (or fail under CI=true)"
    return
  fi
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
  fi
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    echo "test-deps: installed ${missing[*]}"
  else
    echo "test-deps: could not install ${missing[*]}; the window test will skip (or fail under CI=true)"
  fi
}

ensure_postgres
ensure_browser
ensure_qt_libs
exit 0
