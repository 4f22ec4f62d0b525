"""``make test-deploy``: the production stack run for real on this machine's Docker engine.
Slow (minutes), so never part of ``make test``; see ``__main__.py`` for its steps."""
