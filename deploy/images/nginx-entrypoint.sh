#!/bin/sh
# What the official image's entrypoint does that the stack relies on: every
# /etc/nginx/templates/*.template rendered into /etc/nginx/conf.d with the environment's
# variables (only those defined, so nginx's own $variables stay).
set -eu
if [ -d /etc/nginx/templates ]; then
    defined=$(env | cut -d= -f1 | sed 's/^/$/' | tr '\n' ' ')
    for template in /etc/nginx/templates/*.template; do
        [ -e "$template" ] || continue
        envsubst "$defined" < "$template" > "/etc/nginx/conf.d/$(basename "$template" .template)"
    done
fi
exec "$@"
