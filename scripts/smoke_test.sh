#!/usr/bin/env bash
# Smoke test of a running Course Supporter, one line per check (PASS/FAIL), exit 1 on any FAIL.
#
#   scripts/smoke_test.sh [--expect-tls-headers] [--insecure] [--resolve HOST:PORT:ADDRESS] BASE_URL API_KEY
#
# BASE_URL is the public root (https://api.pythoncourse.me, or http://127.0.0.1:8080 for the
# local stack); API_KEY any active key of a tenant (read-only requests only: it creates nothing).
# The security headers the host nginx adds (deploy/nginx/course-supporter.conf) are checked
# when BASE_URL is https or with --expect-tls-headers; --insecure accepts a self-signed
# certificate; --resolve (curl's) reaches HOST:PORT at ADDRESS, to test a host before its DNS
# points at it. Needs bash, curl and python3 (for the JSON bodies).
set -uo pipefail

expect_tls_headers=no
curl_options=(--silent --show-error --max-time 15)
usage() { echo "usage: $0 [--expect-tls-headers] [--insecure] [--resolve HOST:PORT:ADDRESS] BASE_URL API_KEY" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --expect-tls-headers) expect_tls_headers=yes; shift ;;
    --insecure) curl_options+=(--insecure); shift ;;
    --resolve) [ $# -ge 2 ] || usage; curl_options+=(--resolve "$2"); shift 2 ;;
    -h|--help) usage ;;
    --*) echo "unknown option: $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
base_url=${1%/}
api_key=$2
[ -n "$api_key" ] || { echo "API_KEY must not be empty" >&2; usage; }
case "$base_url" in
  https://*) expect_tls_headers=yes ;;
  http://*) ;;
  *) echo "BASE_URL must start with http:// or https:// (got $base_url)" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
body="$work/body"
headers="$work/headers"
status=000
checks=0
failures=0

# fetch PATH [curl options…]: the status into $status, the body and headers into their files
fetch() {
  local path=$1
  shift
  : >"$body"
  : >"$headers"
  status=$(curl "${curl_options[@]}" -o "$body" -D "$headers" -w '%{http_code}' "$@" "$base_url$path" 2>"$work/curl") \
    || status=000
}

# pass NAME WHAT / fail NAME WHY: one line per check, the name a single word
pass() { checks=$((checks + 1)); echo "PASS $1: $2"; }
fail() {
  checks=$((checks + 1))
  failures=$((failures + 1))
  echo "FAIL $1: $2"
}
# what the last fetch got, for a FAIL line: the status and the start of the body (or curl's error)
got() {
  if [ "$status" = 000 ]; then
    echo "no answer ($(head -c 200 "$work/curl" | tr '\n' ' '))"
  else
    echo "got $status $(head -c 200 "$body" | tr '\n' ' ')"
  fi
}

# json_check EXPRESSION: true when the body is JSON and EXPRESSION (Python, over `b`) holds
json_check() {
  "$python" -c 'import json, sys
try:
    b = json.load(open(sys.argv[1], encoding="utf-8"))
except ValueError:
    sys.exit(1)
sys.exit(0 if eval(sys.argv[2]) else 1)' "$body" "$1" 2>/dev/null
}
JSON_ERROR='isinstance(b, dict) and isinstance(b.get("title"), str) and isinstance(b.get("description"), str)'

# expect_error NAME WHAT WANTED_STATUS: that status with the API's JSON error body
expect_error() {
  if [ "$status" = "$3" ] && json_check "$JSON_ERROR"; then
    pass "$1" "$2: $3 with a JSON error"
  else
    fail "$1" "$2: expected $3 with a JSON error {title, description}, $(got)"
  fi
}

# 1. every dependency and service reported ok
fetch /health
if [ "$status" = 200 ] && json_check 'b.get("status") == "ok" and b.get("checks") and all(v == "ok" for v in b["checks"].values())'; then
  pass health "GET /health 200, every check ok"
else
  failing=$("$python" -c 'import json, sys
checks = json.load(open(sys.argv[1])).get("checks", {})
print(", ".join(f"{k}={v}" for k, v in checks.items() if v != "ok"))' "$body" 2>/dev/null)
  fail health "expected 200 with every check ok, $(got)${failing:+ (failing: $failing)}"
fi
# kept for the header checks: what the host nginx adds, it adds to every answer
cp "$headers" "$work/health-headers"

# 2. the API refuses requests without a valid key, in JSON
fetch /api/v1/courses
expect_error no-key "GET /api/v1/courses without a key" 401
fetch /api/v1/courses -H "X-API-Key: cs_live_smoke-test-not-a-real-key"
expect_error bad-key "GET /api/v1/courses with a bad key" 401

# 3. and serves them with one
fetch /api/v1/courses -H "X-API-Key: $api_key"
if [ "$status" = 200 ] && json_check 'isinstance(b.get("items"), list) and isinstance(b.get("total"), int)'; then
  pass key "GET /api/v1/courses with the key 200"
else
  fail key "expected 200 with {items, total}, $(got)"
fi

# 4. the API's description
fetch /openapi.json
if [ "$status" = 200 ] && json_check 'str(b.get("openapi", "")).startswith("3.") and b.get("paths")'; then
  pass openapi "GET /openapi.json 200, an OpenAPI 3 document"
else
  fail openapi "expected 200 with an OpenAPI 3 document, $(got)"
fi
fetch /docs
if [ "$status" = 200 ] && grep -qi '<html' "$body"; then
  pass docs "GET /docs 200, an HTML page"
else
  fail docs "expected 200 with an HTML page, $(got)"
fi

# 5. an unknown path is a JSON 404, not an HTML page
fetch /api/v1/smoke-test-no-such-endpoint -H "X-API-Key: $api_key"
expect_error not-found "GET /api/v1/smoke-test-no-such-endpoint" 404

# 6. the host nginx's security headers, each exactly once
if [ "$expect_tls_headers" = yes ]; then
  for wanted in "Strict-Transport-Security: max-age=" "X-Content-Type-Options: nosniff" \
    "X-Frame-Options: DENY" "Referrer-Policy: no-referrer"; do
    name=${wanted%%:*}
    count=$(grep -ci "^$name:" "$work/health-headers")
    if [ "$count" = 1 ] && grep -qi "^$wanted" "$work/health-headers"; then
      pass "header-$name" "$wanted…, once"
    else
      fail "header-$name" "expected once as \"$wanted…\", found $count: $(grep -i "^$name:" "$work/health-headers" | tr -d '\r' | tr '\n' ' ')"
    fi
  done
fi

if [ "$failures" -gt 0 ]; then
  echo "smoke test FAILED: $failures of $checks checks against $base_url"
  exit 1
fi
echo "smoke test passed: $checks checks against $base_url"
