"""The LLM layer: the model registry, provider adapters, the router and the call log."""
