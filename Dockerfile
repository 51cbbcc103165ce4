# syntax=docker/dockerfile:1
#
# VSP alarm platform: one image for every process of the set (README "Processes"): by default the web
# process (granian, all HTTP); `scripts/serve/ws` for the sockets, `python manage.py ...` for the rest.
# docker-compose.yml puts nginx in front of them on one port.
#
#   docker build -t vsp-web .
#   docker run -e SECRET_KEY=... -e DATABASE_URL=mysql://... -e REDIS_URL=redis://... -p 8000:8000 vsp-web
#
# Static files are collected into the image at build time, under
# /app/staticfiles (settings: STATIC_ROOT). DATA_DIR (/app/var) holds only the
# SQLite fallback database, so a volume may be mounted there.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------
# builder: compile the runtime requirements (mysqlclient needs a C toolchain
# and the MariaDB client headers) into a self-contained venv.
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian versions are not pinned: the bookworm point releases replace them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gcc \
        libc6-dev \
        pkg-config \
        default-libmysqlclient-dev \
        gettext \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# The translations, compiled here where gettext is (the runtime image has no msgfmt): .mo files are
# built from locale/*.po, not kept in git.
COPY . /src
RUN cd /src && SECRET_KEY=build-only python manage.py compilemessages --ignore=.venv --verbosity 0

# ---------------------------------------------------------------------------
# runtime: the venv, the MariaDB client library, the code, collected static.
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=vsp.settings \
    DATA_DIR=/app/var

# libmariadb3: what mysqlclient's _mysql module links against.
# tzdata: IANA zones for TIME_ZONE (zoneinfo reads /usr/share/zoneinfo).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vsp \
    && useradd --system --uid 10001 --gid vsp --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin vsp

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Code stays root-owned: the service user can read it, not change it.
COPY . .
COPY --from=builder /src/locale /app/locale

# collectstatic runs with DEBUG off, so it writes the hashed, compressed
# manifest that WhiteNoise serves; the key only satisfies settings for this
# step and is not kept in the image. DATA_DIR is handed to the service user
# (for the SQLite fallback); the static files stay root-owned and read-only.
RUN SECRET_KEY=build-only DEBUG=0 python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown vsp:vsp /app/var \
    && chmod 0755 /app/docker/entrypoint.sh

USER 10001:10001

EXPOSE 8000

# /health is 200 when the database and Redis answer, 503 otherwise. The Host
# header is taken from ALLOWED_HOSTS so the probe is not refused with a 400
# when only public names are allowed.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('*.') or 'localhost'; r.urlopen(r.Request('http://127.0.0.1:8000/health', headers={'Host': h}), timeout=9)"]

# The entrypoint applies migrations when the command is the server, then
# execs it; any other command (manage.py createsuperuser, a shell) runs as is.
ENTRYPOINT ["/app/docker/entrypoint.sh"]
ENV WEB_BIND=0.0.0.0:8000
CMD ["scripts/serve/web"]
