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

# Install Debian packages unless `path` exists: apt_ensure PATH WHAT PACKAGE...
apt_ensure() {
  local path="$1" what="$2"; shift 2
  if [ -e "$path" ]; then
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "No $path and no apt-get: $what will fail until $* are installed"
    return
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "run as root or install: $*"
    sudo="sudo"
  fi
  say "Installing Debian packages for $what: $*"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The browser tests drive Debian's Chromium (/usr/bin/chromium); the CJK font
# makes Korean readable in their screenshots, the emoji font the page's buttons.
ensure_chromium() {
  apt_ensure /usr/bin/chromium "the browser tests" chromium fonts-noto-cjk fonts-noto-color-emoji
}

# The slide-lookup tests start Debian's Orthanc (the service itself is not
# enabled: each test run starts its own on a free port).
ensure_orthanc() {
  apt_ensure /usr/sbin/Orthanc "the Orthanc tests" orthanc
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

# The message catalogs (locale/*/LC_MESSAGES/*.po) are compiled here, not
# committed: msgfmt comes with Debian's gettext.
ensure_messages() {
  apt_ensure /usr/bin/msgfmt "the Korean and English catalogs" gettext
  .venv/bin/python manage.py compilemessages -v0 -i .venv -i var
}

random_secret() {
  python3.11 -c 'import secrets; print(secrets.token_urlsafe(50))'
}
