"""Processors: one per kind of material, each turning a local file (or a URL) into the
material's document of typed chunks (:class:`services.agent.documents.Chunk`)."""
