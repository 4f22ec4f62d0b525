# A stand-in for redis:7-alpine: Debian's redis-server (7.0 in bookworm), redis-cli for the
# healthcheck, and what the official image does that compose relies on: /data as the working
# directory (where `--save` writes its snapshot; compose mounts a volume there) and protected
# mode off unless the command says otherwise (redis-entrypoint.sh).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && groupmod -g 999 redis && usermod -u 999 -g 999 redis \
    && mkdir /data && chown -R 999:999 /var/lib/redis /data
COPY redis-entrypoint.sh /usr/local/bin/
WORKDIR /data
USER 999:999
EXPOSE 6379
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server", "--bind", "0.0.0.0"]
