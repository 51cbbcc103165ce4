#!/bin/sh
# Container entrypoint: bring the schema up to date, then hand PID 1 to the
# command (the web process by default) so it receives the container's stop signal.
set -eu

# The project root (/app in the image), wherever the script is run from.
cd "$(dirname "$0")/.."

case "${1:-}" in
    scripts/serve/web)
        # migrate runs the system checks first: a missing SECRET_KEY (vsp.E001)
        # or a bad setting stops the container here, before it serves anything.
        python manage.py migrate --noinput
        ;;
esac

exec "$@"
