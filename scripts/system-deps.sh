#!/usr/bin/env bash
# Install the system packages the Python dependencies build against, and GNU gettext, when missing.
# mysqlclient compiles against the MariaDB/MySQL client library and finds it with pkg-config.
set -euo pipefail

python="${PYTHON:-python3}"
packages=()
# --browser: also Debian's Chromium, which the browser tests drive through Playwright, and a CJK font
# (without one the pages' Chinese labels render as boxes in screenshots).
# --serve: nginx (the proxy of the serving set) and envsubst (which fills in its configuration).
# --all: both.
case "${1:-}" in
  --browser|--all)
    command -v chromium >/dev/null 2>&1 || packages+=(chromium)
    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || packages+=(fonts-wqy-microhei)
    ;;
esac
case "${1:-}" in
  --serve|--all)
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx-light)
    command -v envsubst >/dev/null 2>&1 || packages+=(gettext-base)
    ;;
esac
# msgfmt, which compiles the translations (manage.py compilemessages, README "Languages and display names").
command -v msgfmt >/dev/null 2>&1 || packages+=(gettext)
# Debian's own Python ships venv/ensurepip separately.
"$python" -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)
if ! { command -v pkg-config >/dev/null 2>&1 && { pkg-config --exists mysqlclient || pkg-config --exists libmariadb; }; }; then
  packages+=(libmariadb-dev pkg-config gcc)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Install with your package manager the equivalents of Debian's: ${packages[*]}" >&2
  echo "(macOS: brew install mysql-client pkg-config gettext, and a Chromium for the browser tests)." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Need root to install: ${packages[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing system packages: ${packages[*]}" >&2
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${packages[@]}" >/dev/null
