#!/usr/bin/env bash
# Install the system packages the Python dependencies build against, when missing.
# mysqlclient compiles against the MariaDB/MySQL client library and finds it with pkg-config.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && { pkg-config --exists mysqlclient || pkg-config --exists libmariadb; }; then
  exit 0
fi

packages=(libmariadb-dev pkg-config gcc)
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Install the MySQL/MariaDB client development files and pkg-config with your package manager" >&2
  echo "(Debian/Ubuntu: ${packages[*]}; macOS: brew install mysql-client pkg-config)." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Need root to install: ${packages[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing system packages: ${packages[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
