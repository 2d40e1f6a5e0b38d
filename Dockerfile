# syntax=docker/dockerfile:1
#
# Maestro ML production image. One image runs every Maestro ML process:
#   (default)                         gunicorn serving config.wsgi on :8000
#   celery -A config worker ...       Celery workers (one pool per queue)
#   celery -A config beat ...         the periodic task scheduler
#   python manage.py migrate          database migrations (one-shot)
#   mlflow server ...                 the MLflow tracking server (same MLflow version as the clients)
# See docker-compose.yml, deploy/k8s/ and docs/deployment.md.
#
# The image holds no secret: every secret comes from the environment when a container starts.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------
# Build stage: the Python dependencies of pyproject.toml, in a virtualenv
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# `pip install .` on pyproject.toml alone (empty packages, placeholder readme) so this heavy layer
# is rebuilt only when the dependencies change, not on every code change. The versions are those of
# requirements.lock (as constraints: the runtime dependencies only, none of the dev extra's tools).
# The project itself is then removed again: its code runs from /app (PYTHONPATH), where templates/
# and static/ live too.
COPY pyproject.toml requirements.lock ./
RUN mkdir config apps \
    && touch config/__init__.py apps/__init__.py README.md \
    && pip install --upgrade pip setuptools wheel \
    && pip install . --constraint requirements.lock \
    && pip uninstall --yes maestro-ml

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="Maestro ML" \
      org.opencontainers.image.description="Self-hosted machine-learning platform: web, Celery workers, beat, MLflow server"

# WeasyPrint (model cards as PDF) needs Pango and a font; LightGBM needs libgomp; tini reaps the
# processes AutoGluon starts and forwards signals.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        fonts-dejavu-core \
        libgomp1 \
        tini \
    && rm -rf /var/lib/apt/lists/*

# pg_dump and pg_restore for manage.py backup / restore. The client must be at least as new as the server
# (PostgreSQL 16 in docker-compose.yml), newer than Debian bookworm's 15, so it comes from the PostgreSQL
# project's own Debian repository.
ARG POSTGRES_CLIENT_VERSION=16
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install --yes --no-install-recommends postgresql-client-${POSTGRES_CLIENT_VERSION} \
    && apt-get purge --yes curl \
    && apt-get autoremove --yes \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 maestro \
    && useradd --system --uid 10001 --gid maestro --home-dir /home/maestro --create-home \
        --shell /usr/sbin/nologin maestro \
    && install --directory --owner=maestro --group=maestro /data /srv/static

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    DATA_DIR=/data \
    HOME=/home/maestro \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    XDG_CACHE_HOME=/tmp/cache

WORKDIR /app
COPY . .

# Static files are collected once, here. The settings are the embedded defaults plus production's
# static storage (deploy/docker/build_settings.py), so the hashed-name manifest production needs is
# written; the throwaway key lives only in this RUN's environment and production refuses it.
RUN DJANGO_SETTINGS_MODULE=deploy.docker.build_settings \
    DJANGO_SECRET_KEY=collectstatic-build-only-dummy-key \
    DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput --verbosity 1 \
    && rm -rf /tmp/build-data \
    && python -m compileall -q /app/config /app/apps /app/deploy/docker \
    && chmod 0755 /app/deploy/docker/entrypoint.sh

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "web"]

ENTRYPOINT ["tini", "--", "/app/deploy/docker/entrypoint.sh"]
CMD ["web"]
