"""Every process stands on these: settings, logging, the pool, Redis, S3 storage, the process
runtime, gunicorn's config and the migration runner.
"""
