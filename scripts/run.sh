#!/usr/bin/env bash
# Install what is needed and run chatapp (embedded defaults: SQLite file, local media, one worker).
# Set DATABASE_URL / REDIS_URL / CLOUDINARY_URL / PORT to change that (see README).
source "$(dirname "$0")/setup.sh"
setup_venv requirements.txt

PORT="${PORT:-8000}"
python -m chatapp.db                      # apply pending migrations
# Server and worker count come from chatapp/settings.py (SERVER, WORKERS; one worker unless
# REDIS_URL is set, since in-memory state needs a single worker).
echo
echo "  chatapp is starting: open http://localhost:${PORT}/ when it says 'App running'"
echo
# Builds the frontend only when the app changed (see chatapp/serve.py), then serves on one port.
exec python -m chatapp.serve --port "$PORT" --host "${HOST:-0.0.0.0}"
