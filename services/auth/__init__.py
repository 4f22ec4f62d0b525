"""Tenants and API keys: ``GET /api/v1/auth/me`` and the admin CLI."""
