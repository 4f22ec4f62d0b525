#!/usr/bin/env bash
# Installs what the local stack and the tests need and the project cannot ship itself:
#   install.sh python  — a Python >= 3.11 that can make virtualenvs
#   install.sh system  — redis-server, nginx and ffmpeg (wrk for benchmarks)
# As root on Debian/Ubuntu it uses apt-get; otherwise it says exactly what to install.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: $*. Install them (e.g. sudo apt-get install -y $*) and run make again." >&2
    exit 1
  fi
  echo "installing with apt-get: $*"
  # update only when the package lists are missing or a day old
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

case "${1:-}" in
  python)
    python=${PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "Python >= 3.11 is required (found: $("$python" --version 2>&1 || echo none))." >&2
      exit 1
    fi
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
      apt_install python3-venv
    fi
    ;;
  system)
    missing=()
    have redis-server || missing+=(redis-server)
    have nginx || missing+=(nginx)
    have ffmpeg || missing+=(ffmpeg)  # audio extraction and splitting for transcription
    [ "${WITH_BENCH:-0}" = 1 ] && ! have wrk && missing+=(wrk)
    if [ ${#missing[@]} -gt 0 ]; then
      apt_install "${missing[@]}"
    fi
    ;;
  *)
    echo "usage: $0 python|system" >&2
    exit 2
    ;;
esac
