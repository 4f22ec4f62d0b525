#!/bin/sh
# One SeaweedFS server (master, volume, filer, S3) whose S3 gateway checks every request's
# signature against the one identity S3_ACCESS_KEY / S3_SECRET_KEY.
set -eu
: "${S3_ACCESS_KEY:?S3_ACCESS_KEY is required}" "${S3_SECRET_KEY:?S3_SECRET_KEY is required}"
cat > /data/s3.json <<JSON
{"identities": [{"name": "course-supporter", "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
exec /opt/weed/bin/weed server -dir=/data -s3 -s3.port=8333 -s3.config=/data/s3.json -master.volumeSizeLimitMB=1024 -volume.max=0
