"""The Reflective client SDK: it holds every key; the server only ever sees ciphertexts.

- :class:`AsyncReflectiveClient`: the whole HTTP contract, sent and read as the Structs of
  :mod:`reflective_protocol`.
- :class:`Device`: one device's intents (write, sync, resolve, stats) over a local store.
- :mod:`reflective_client.crypto`: AES-GCM entries, CKKS metrics, private tag names, keys.
"""

from reflective_client.device import Device
from reflective_client.errors import (
    AlreadyExistsError,
    ApiError,
    AuthError,
    BadRequestError,
    ConflictError,
    DecryptionError,
    KeyFileError,
    KeysMissing,
    NotFoundError,
    NotSignedIn,
    PayloadTooLargeError,
    RateLimitedError,
    ReflectiveError,
    ResyncRequired,
    ServerError,
    StaleResolutionError,
    TierError,
    TransportError,
    ValidationError,
    WrongPassphrase,
)
from reflective_client.http import AsyncReflectiveClient

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "AsyncReflectiveClient",
    "AuthError",
    "BadRequestError",
    "ConflictError",
    "DecryptionError",
    "Device",
    "KeyFileError",
    "KeysMissing",
    "NotFoundError",
    "NotSignedIn",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ReflectiveError",
    "ResyncRequired",
    "ServerError",
    "StaleResolutionError",
    "TierError",
    "TransportError",
    "ValidationError",
    "WrongPassphrase",
]
