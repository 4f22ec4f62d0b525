"""The ArchitectAgent: turns a course's processed materials into its structure (no HTTP, no queue)."""

from services.agent.architect.agent import ArchitectAgent, Outcome
from services.agent.architect.errors import ArchitectError, ContextTooLarge, NoMaterials
from services.agent.architect.materials import MaterialText

__all__ = ["ArchitectAgent", "ArchitectError", "ContextTooLarge", "MaterialText", "NoMaterials", "Outcome"]
