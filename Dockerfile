# One image for every Python service and tool; compose picks the process with `command:`.
FROM python:3.11-slim

# The code runs from /app (PYTHONPATH), not from site-packages: libs/migrate.py finds
# migrations/ beside libs/, and every entry point must import that same tree.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONPATH=/app

WORKDIR /app

# ffmpeg: the agent's worker extracts and splits audio for speech-to-text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject.toml alone, so this layer (the slow one) is rebuilt only
# when the pinned dependencies change, not on every code change. With no sources copied yet
# the project itself installs as an empty distribution; the code comes from /app below.
COPY pyproject.toml ./
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

COPY libs/ libs/
COPY services/ services/
COPY migrations/ migrations/
# Bytecode is compiled at build time: the non-root user cannot write __pycache__ at run time.
RUN python -m compileall -q libs services \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app

# The code stays root-owned and read-only to the process that runs it.
USER app

# Every service binds :8000 inside its own container (compose sets the command).
EXPOSE 8000
