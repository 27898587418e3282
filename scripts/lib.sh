# Shared by scripts/run and scripts/test. Sourced, not executed.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# mysqlclient (the MySQL/MariaDB driver) compiles against the client library
# headers, found through pkg-config.
ensure_mysqlclient_build_deps() {
  if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists mysqlclient 2>/dev/null; then
    return
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "mysqlclient needs the MySQL/MariaDB client headers and pkg-config; install them (Debian: default-libmysqlclient-dev pkg-config)."
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "run as root or install: default-libmysqlclient-dev pkg-config build-essential"
    sudo="sudo"
  fi
  say "Installing Debian packages for mysqlclient"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-libmysqlclient-dev pkg-config build-essential >/dev/null
}

# The browser tests drive Debian's Chromium (/usr/bin/chromium); the CJK font
# makes Korean readable in their screenshots, the emoji font the page's buttons.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "No /usr/bin/chromium and no apt-get: the browser tests will fail until Chromium is installed there"
    return
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "run as root or install: chromium fonts-noto-cjk fonts-noto-color-emoji"
    sudo="sudo"
  fi
  say "Installing Debian packages for the browser tests"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null
}

# Create .venv with python3.11 and install a requirements file into it; skip
# the install when the requirements have not changed since the last one.
ensure_venv() {
  local requirements="$1"
  command -v python3.11 >/dev/null 2>&1 || die "python3.11 is required"
  if [ ! -x .venv/bin/python ]; then
    say "Creating .venv (python3.11)"
    python3.11 -m venv .venv
  fi
  local stamp=".venv/.installed-${requirements%.txt}"
  local digest
  digest=$(cat requirements*.txt inference_worker/requirements.txt | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    return
  fi
  ensure_mysqlclient_build_deps
  say "Installing $requirements"
  .venv/bin/python -m pip install --quiet -r "$requirements"
  echo "$digest" >"$stamp"
}

random_secret() {
  python3.11 -c 'import secrets; print(secrets.token_urlsafe(50))'
}
