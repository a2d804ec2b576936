"""``keys export`` / ``keys import``: the key bundle in a passphrase envelope on disk."""

from __future__ import annotations

from pathlib import Path

from reflective_client.crypto import envelope
from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import KeyFileError
from reflective_client.files import write_private


def export_keys(
    keys: UserKeys, path: Path, passphrase: str, cost: envelope.KdfCost | None = None
) -> None:
    """Write ``keys`` to ``path`` (0600), sealed under ``passphrase``."""
    write_private(path, envelope.seal(keys.to_json(), passphrase, cost).encode("utf-8"))


def read_keys(path: Path, passphrase: str) -> UserKeys:
    """The keys in ``path``; :class:`WrongPassphrase` / :class:`KeyFileError` otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path} ({type(exc).__name__})") from None
    return UserKeys.from_json(envelope.open_envelope(text, passphrase))


def check_replaceable(held: UserKeys | None, incoming: UserKeys, replace: bool) -> None:
    """Refuse to overwrite other entry keys silently: entries made with them would be lost."""
    if held is not None and held.aes_key != incoming.aes_key and not replace:
        raise KeyFileError(
            "this profile already holds other keys; entries made with them would become "
            "unreadable (use --replace to overwrite anyway)"
        )
