"""What a processor raises when a material cannot be turned into a document."""

from __future__ import annotations


class UnreadableMaterial(Exception):
    """Permanent: the file or page itself is the problem (corrupt, empty, not what its type
    says, no text at all). The message is shown to a person as the material's error, so it
    says what was wrong with the material in plain words, never an exception's name."""


class SourceUnavailable(Exception):
    """Transient: a service the processor depends on (a web server, the speech-to-text
    provider) failed in a way that may pass: network errors, timeouts, 429, 5xx. The job is
    retried with backoff; after the last try the message becomes the material's error."""


class NotConfigured(UnreadableMaterial):
    """The material needs a provider the operator has not configured; the message names the
    setting (e.g. OPENAI_API_KEY)."""
