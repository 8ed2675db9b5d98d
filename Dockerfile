# syntax=docker/dockerfile:1
#
# fullon_cache_api: read-only GraphQL API over fullon_cache's Redis.
#
#   docker build -t fullon-cache-api .
#   docker run --rm -p 127.0.0.1:8000:8000 -e REDIS_HOST=redis.internal fullon-cache-api
#
# Every setting comes from the environment (REDIS_*, API_*, LOG_*, ...): see
# docs/operations.md. Three stages:
#
#   assets    node:20-slim    fetches the pinned browser assets of GraphiQL and of the
#                             dashboard with npm and checks them against their pinned hashes
#                             (the project's own installers, graphiql/assets.py and
#                             dashboard/assets.py, and assets_npm.py: stdlib-only)
#   builder   python:3.11-slim  builds the project's wheel, with those assets inside, and
#                             installs it into the virtualenv /opt/venv
#   runtime   python:3.11-slim  the virtualenv only; runs as an unprivileged user

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# --------------------------------------------------------------------------- assets
FROM ${NODE_IMAGE} AS assets

# The installers run `npm pack` and verify every file's SRI hash; they need a Python >= 3.10
# (Debian bookworm's python3 is 3.11). This stage is discarded after the build.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /work
# Only the installers and the modules they import (the standard library's, and these).
COPY src/fullon_cache_api/__init__.py src/fullon_cache_api/version.py src/fullon_cache_api/assets_npm.py ./fullon_cache_api/
COPY src/fullon_cache_api/graphiql/__init__.py src/fullon_cache_api/graphiql/assets.py ./fullon_cache_api/graphiql/
COPY src/fullon_cache_api/dashboard/__init__.py src/fullon_cache_api/dashboard/assets.py ./fullon_cache_api/dashboard/
# Fails the build (exit 1) if npm cannot fetch the pinned packages or a hash differs.
RUN python3 -m fullon_cache_api.graphiql.assets --dest /graphiql-static \
    && python3 -m fullon_cache_api.dashboard.assets --dest /dashboard-static

# --------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The wheel's package data includes graphiql/static/** and dashboard/static/**, so the assets
# are installed inside the package (site-packages/fullon_cache_api/*/static/), where the app
# serves them.
COPY --from=assets /graphiql-static ./src/fullon_cache_api/graphiql/static
COPY --from=assets /dashboard-static ./src/fullon_cache_api/dashboard/static
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install /wheels/fullon_cache_api-*.whl \
    && /opt/venv/bin/python -c "from fullon_cache_api.graphiql.assets import assets_available as ok; assert ok(), 'GraphiQL assets missing from the installed package'" \
    && /opt/venv/bin/python -c "from fullon_cache_api.dashboard.assets import assets_available as ok; assert ok(), 'dashboard assets missing from the installed package'" \
    && /opt/venv/bin/fullon-cache-api serve --help > /dev/null

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="fullon_cache_api" \
      org.opencontainers.image.description="Read-only GraphQL API over fullon_cache's Redis" \
      org.opencontainers.image.licenses="MIT"

# A fixed, numeric, unprivileged uid/gid: Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# API_HOST: inside a container the server must listen on every interface, or the published
# port reaches nothing (the application's own default is 127.0.0.1, loopback only).
# Which hosts can reach it is decided by the port publishing / network, not by the bind.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000

# Settings also read ./.env: mount one at /app/.env if you prefer a file to variables.
WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Liveness only (/health never touches Redis): a Redis outage is not fixed by restarting
# the API. Readiness (/ready: Redis reachable) is for load balancers and orchestrators.
# No curl in the slim image: Python's urllib. Non-2xx or no answer -> exit status 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('API_PORT', '8000'), timeout=4)"]

# Exec form: the server is PID 1 and receives SIGTERM itself (docker stop): it stops
# accepting connections, closes WebSockets (1001), finishes in-flight requests and
# exits 0 (docs/operations.md, Shutdown).
ENTRYPOINT ["fullon-cache-api"]
CMD ["serve"]
