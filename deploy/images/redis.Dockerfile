# A stand-in for redis:7-alpine: Debian's redis-server (7.0 in bookworm), redis-cli for the
# healthcheck.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && groupmod -g 999 redis && usermod -u 999 -g 999 redis && chown -R 999:999 /var/lib/redis
USER 999:999
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/var/lib/redis"]
