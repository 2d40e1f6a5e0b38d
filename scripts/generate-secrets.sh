#!/usr/bin/env sh
# Write a .env with strong random secrets for Maestro ML (DJANGO_SECRET_KEY, POSTGRES_PASSWORD,
# S3 / MinIO keys, GRAFANA_ADMIN_PASSWORD). Needs only Python 3's standard library.
#   scripts/generate-secrets.sh                 writes ./.env, refuses to replace an existing one
#   scripts/generate-secrets.sh --force         replaces it (the old file is kept as .env.bak-<time>)
#   scripts/generate-secrets.sh --output -      prints the values instead (e.g. for a Kubernetes Secret)
# Check the result with: python manage.py check_secrets --env-file .env --deployment
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$ROOT/.venv/bin/python" ]; then
  PYTHON="$ROOT/.venv/bin/python"
else
  PYTHON=python3
fi
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m apps.core.secrets_env "$@"
