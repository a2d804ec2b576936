"""The adapter's own error for malformed SEAL data, before it becomes a domain error."""

from __future__ import annotations


class SealFormatError(Exception):
    """Untrusted bytes are not an acceptable SEAL object.

    ``reason`` is user-facing and never quotes the data itself; validator and aggregator turn
    it into :class:`~reflective_domain.errors.InvalidCiphertext` with the item's index.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
