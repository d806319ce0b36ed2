# syntax=docker/dockerfile:1
# pdvault: wheels are built in a throwaway stage; the runtime stage only installs them into a venv.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# README.md is the project's `readme` in pyproject.toml, so the wheel build needs it.
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
# A wheel for pdvault and one for every dependency, so the runtime stage installs offline.
RUN python -m pip wheel --wheel-dir /wheels -c requirements.lock .


FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PDVAULT_HOST=0.0.0.0 \
    PDVAULT_PORT=8000 \
    PDVAULT_DATA_DIR=/var/lib/pdvault \
    PDVAULT_KEYRING=/run/secrets/pdvault/keyring.json

RUN groupadd --gid 10001 pdvault \
 && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin pdvault \
 && install -d -o pdvault -g pdvault -m 0700 /var/lib/pdvault /run/secrets/pdvault

# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels pdvault
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Alembic config and migration scripts stay root-owned: the service can read, not change, them.
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY --chmod=0555 docker/entrypoint.sh /usr/local/bin/pdvault-entrypoint

USER 10001:10001
EXPOSE 8000

# Healthy means ready, as for a load balancer: /readyz answers 200 only while the database
# answers and the keys wrap and unwrap (503, an HTTPError, fails the probe). The image has no
# curl; python does it. ProxyHandler({}) so an HTTP(S)_PROXY in the environment cannot reroute
# the loopback probe; the port is the one the server listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/readyz' % os.environ.get('PDVAULT_PORT', '8000'), timeout=4)"]

# No arguments: migrate, then serve as PID 1 (docker/entrypoint.sh). With arguments, one
# pdvault command: `docker compose run --rm pdvault keys create`.
ENTRYPOINT ["/usr/local/bin/pdvault-entrypoint"]
CMD ["serve"]
