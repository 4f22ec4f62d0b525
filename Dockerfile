# Images for every Python process of the stack; compose picks the process with `command:`.
#   target app:    the gunicorn services (auth, uploads, courses, agent-api) and the tools
#   target worker: the agent's worker, the same code plus ffmpeg (it cuts audio for speech to text)
# Dependencies are installed in a build stage; the runtime stages copy the result and carry no
# pip, build tools or caches beyond what python:3.11-slim itself has.

# The base: today's public image by default; PYTHON_IMAGE names another (a mirror behind a
# firewall, or the stand-in `make images-local` builds from Debian's packages).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS runtime
# The code runs from /app (PYTHONPATH), not from site-packages: libs/platform/migrate.py finds
# migrations/ beside libs/, and every entry point must import that same tree.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app


FROM runtime AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
# Dependencies first, from pyproject.toml alone, so this layer (the slow one) is rebuilt only
# when the pinned dependencies change, not on every code change. With no sources copied yet
# the project itself installs as an empty distribution; the code comes from /app below.
# Every pinned dependency has a manylinux wheel, so no compiler is needed.
COPY pyproject.toml ./
# Behind an intercepting proxy pip needs the host's CA bundle: given as the build secret "ca"
# (make images-local's builds, HOST_CA_BUNDLE), it is mounted for this step only, never stored.
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --prefer-binary . \
    && rm -rf build ./*.egg-info pyproject.toml
COPY libs/ libs/
COPY services/ services/
COPY migrations/ migrations/
# Bytecode is compiled here: the non-root user cannot write __pycache__ at run time.
RUN python -m compileall -q libs services


# The agent's worker. Its apt layer comes before the code, so a code change does not reinstall
# ffmpeg. Debian's security updates move package versions, so ffmpeg is not pinned: the base
# image's release fixes what it is.
FROM runtime AS worker
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# The code stays root-owned and read-only to the process that runs it.
USER 10001:10001
# No HTTP here: the worker's health is the queue's, which the agent API's /health/agent reports
# (it fails when a queued job has waited over 5 minutes).
CMD ["python", "-m", "services.agent.worker"]


FROM runtime AS app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
USER 10001:10001
# Every service binds :8000 inside its own container (compose sets the command).
EXPOSE 8000
# Liveness only: /health/live answers without touching a dependency. A degraded dependency
# (503 on /health) is Netdata's alert to raise, and must not get healthy containers restarted.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
CMD ["gunicorn", "-c", "python:libs.platform.gunicorn_config", "--bind", "0.0.0.0:8000", "services.auth.wsgi:app"]
