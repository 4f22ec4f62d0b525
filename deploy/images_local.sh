#!/usr/bin/env bash
# make images-local: stand-ins for every image the production stack pulls, built on this machine
# from Debian's packages and PyPI, for a host that reaches no image registry (a firewall, an
# air gap with package mirrors). A Debian base made with debootstrap is imported into Docker;
# the stand-ins are built on it (deploy/images/), and the lines to put in `.env` are printed:
# compose then builds the application on PYTHON_IMAGE and runs the others.
#
#   LOCAL_IMAGES   the images' repository prefix (course-supporter-local)
#   DEBIAN_MIRROR  where debootstrap and apt fetch packages (http://deb.debian.org/debian)
#   HOST_CA_BUNDLE the CA bundle pip inside a build trusts, mounted as a build secret and never
#                  stored in an image (/etc/ssl/certs/ca-certificates.crt)
#
# Builds reach the package registries through the host's network (--network host). Needs
# docker (a running engine), debootstrap and root.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${LOCAL_IMAGES:-course-supporter-local}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
BASE="$PREFIX/debian:$SUITE"

step() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

for tool in docker debootstrap; do
    command -v "$tool" >/dev/null || { echo "images-local: $tool is missing (apt-get install docker.io debootstrap)" >&2; exit 1; }
done
if ! docker info >/dev/null 2>&1; then
    echo "images-local: no Docker engine answers; start one (dockerd, or dockerd --storage-driver=vfs where overlayfs is not available)" >&2
    exit 1
fi

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    step "base: debootstrap $SUITE from $MIRROR"
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >/dev/null
    # the mirror the base was made from is the one its images install from
    echo "deb $MIRROR $SUITE main" > "$rootfs/etc/apt/sources.list"
    chmod 755 "$rootfs"  # mktemp's 0700 would become the image's /, closed to every other user
    # an imported file system has no configuration: PATH as Debian's images set it
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$BASE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
fi

# BuildKit (for the CA secret): buildx where the client has it, else the engine's own, which
# Debian's docker.io client (20.10) drives without buildx
if docker buildx version >/dev/null 2>&1; then
    BUILD=(docker buildx build --load)
else
    BUILD=(env DOCKER_BUILDKIT=1 /usr/bin/docker build)
fi

build() {  # name, then build arguments
    local name=$1
    shift
    step "build $PREFIX/$name"
    "${BUILD[@]}" --quiet --network host --secret "id=ca,src=$CA" \
        -f "deploy/images/$name.Dockerfile" -t "$PREFIX/$name:latest" "$@" deploy/images >/dev/null
}

build python --build-arg "BASE_IMAGE=$BASE"
build redis --build-arg "BASE_IMAGE=$BASE"
build nginx --build-arg "BASE_IMAGE=$BASE"
build postgres --build-arg "PYTHON_IMAGE=$PREFIX/python:latest"
build s3 --build-arg "PYTHON_IMAGE=$PREFIX/python:latest"

step "done; for .env (compose reads it for \${...}):"
cat <<LINES
PYTHON_IMAGE=$PREFIX/python:latest
POSTGRES_IMAGE=$PREFIX/postgres:latest
REDIS_IMAGE=$PREFIX/redis:latest
NGINX_IMAGE=$PREFIX/nginx:latest
S3_IMAGE=$PREFIX/s3:latest
LINES
