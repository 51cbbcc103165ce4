#!/usr/bin/env bash
# Print the environment for the test suite, as shell `export` lines for `eval`.
#
# The tests run against MariaDB/MySQL and Redis when they answer on loopback
# (CI always starts them), else against SQLite and the in-memory channel layer.
# DATABASE_URL / REDIS_URL already set in the environment win.
set -euo pipefail

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

database_url="${DATABASE_URL:-}"
if [ -z "$database_url" ] && answers 127.0.0.1 3306; then
  database_url="mysql://root@127.0.0.1:3306/test"
fi
redis_url="${REDIS_URL:-}"
if [ -z "$redis_url" ] && answers 127.0.0.1 6379; then
  redis_url="redis://127.0.0.1:6379/0"
fi

if [ -n "${CI:-}" ] && { [ -z "$database_url" ] || [ -z "$redis_url" ]; }; then
  echo "CI must test against MariaDB and Redis, and one of them does not answer on loopback." >&2
  exit 1
fi

if [[ "$database_url" == mysql://root@127.0.0.1:3306/* ]] && command -v mariadb >/dev/null 2>&1; then
  # The admin's date drill-down needs the server's time zone tables; load them once.
  if [ "$(mariadb -uroot -N -e "SELECT CONVERT_TZ('2000-01-01','UTC','Asia/Shanghai') IS NULL")" = 1 ]; then
    echo "Loading time zone tables into the local MariaDB" >&2
    mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | mariadb -uroot mysql
  fi
fi

echo "Tests use: ${database_url:-SQLite} and ${redis_url:-the in-memory channel layer}" >&2
printf 'export DATABASE_URL=%q REDIS_URL=%q\n' "$database_url" "$redis_url"
