"""What the ArchitectAgent raises when a run cannot succeed whatever is retried."""

from __future__ import annotations


class ArchitectError(Exception):
    """A permanent failure of a structure run; the message is fit for the job's error."""


class NoMaterials(ArchitectError):
    """The course has no processed material to structure."""

    def __init__(self) -> None:
        super().__init__("the course has no processed materials to structure: upload materials and wait until done")


class ContextTooLarge(ArchitectError):
    """The materials do not fit the model's context, even after condensing them."""
