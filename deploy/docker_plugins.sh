#!/usr/bin/env bash
# Docker's compose (v2) and buildx CLI plugins for a host whose Docker lacks them: Debian
# bookworm's docker.io (20.10) ships neither, and its docker-compose is the Python 1.29, which
# has no build secrets. Debian trixie packages both (Go binaries needing only libc); apt fetches
# them and checks the archive's signature, and they are unpacked into DIR, where the docker CLI
# finds plugins. Nothing else of trixie is installed.
#
#   deploy/docker_plugins.sh [DIR]     default /usr/local/lib/docker/cli-plugins
#
#   DEBIAN_MIRROR  where apt fetches them (http://deb.debian.org/debian)
set -euo pipefail

dir=${1:-/usr/local/lib/docker/cli-plugins}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || { echo "docker_plugins.sh: $keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb [signed-by=$keyring] $mirror trixie main" > "$work/sources.list"
# apt with its own lists and cache: the host's sources, lists and lock are left alone
apt=(apt-get -q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
     -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
     -o APT::Sandbox::User=root)
"${apt[@]}" update >/dev/null
(cd "$work/debs" && "${apt[@]}" download docker-compose docker-buildx >/dev/null)
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
mkdir -p "$dir"
install -m 755 "$work"/root/usr/libexec/docker/cli-plugins/docker-{compose,buildx} "$dir/"
echo "docker_plugins.sh: $("$dir/docker-compose" version) and buildx $("$dir/docker-buildx" version | cut -d' ' -f2) in $dir"
