"""The agent: ingestion of materials into documents (a worker process) and the jobs API."""
