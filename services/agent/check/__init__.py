"""The check scope: homework submissions graded by the LLM layer, student progress, and
concept search."""
