"""The durable job queue: the jobs table, and the runtime a worker process drains it with."""
