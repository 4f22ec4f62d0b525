"""Who may call what, and how often: API keys, authentication, the key cache, scopes and the token-bucket rate limit."""
