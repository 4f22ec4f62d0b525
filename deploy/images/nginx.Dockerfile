# A stand-in for nginx:1.27-alpine: Debian's nginx, its log to the container's output, wget for
# the healthcheck, and the official image's habit of rendering /etc/nginx/templates/*.template
# into conf.d with envsubst (gettext-base) before it starts.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx wget gettext-base \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /usr/local/bin/
EXPOSE 80
# as the official image: SIGQUIT is nginx's graceful stop (SIGTERM would drop open requests)
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
