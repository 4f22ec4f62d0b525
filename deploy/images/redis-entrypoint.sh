#!/bin/sh
# The official image builds Redis with protected mode off by default (the container's network
# is the boundary); Debian's redis-server keeps it on, which refuses every client from another
# container once compose's `command:` replaces the image's. Same default as the official image.
set -eu
if [ "${1:-}" = redis-server ]; then
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
