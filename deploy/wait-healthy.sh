#!/usr/bin/env bash
# Wait for a deployed stack to answer 200 on its /health: the deployment guide's check, 10
# attempts 5 s apart, then give up with exit 1 (the deploy workflow's health check runs this).
#
#   deploy/wait-healthy.sh URL          e.g. https://api.pythoncourse.me/health
#
# ATTEMPTS and INTERVAL (seconds) override the guide's figures, for tests only.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 URL" >&2; exit 2; }
url=$1
attempts=${ATTEMPTS:-10}
interval=${INTERVAL:-5}

echo "health check: $url ($attempts attempts, $interval s apart)"
for ((attempt = 1; attempt <= attempts; attempt++)); do
  # --fail: a 503 (a dependency degraded) counts as not healthy, as it does for Netdata
  if body=$(curl --silent --show-error --fail --max-time 10 "$url" 2>&1); then
    echo "healthy at attempt $attempt/$attempts: $body"
    exit 0
  fi
  echo "attempt $attempt/$attempts: not healthy yet: $body"
  if ((attempt < attempts)); then
    sleep "$interval"
  fi
done
echo "::error::$url did not answer 200 after $attempts attempts; last answer:"
curl --silent --max-time 10 "$url" || true
echo
exit 1
