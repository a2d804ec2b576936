"""Building entry uploads as the web client does (ciphertexts are opaque to the server, so
random bytes of the right shape serve)."""

from __future__ import annotations

import os
import uuid
from typing import Any

from tests.integration.api.conftest import b64


def entry_upload(
    entry_id: uuid.UUID | str | None = None,
    *,
    device: str = "laptop",
    content: bytes | None = None,
    updated_at: str = "2026-11-01T09:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": str(entry_id or uuid.uuid4()),
        "encrypted_content": b64(content if content is not None else os.urandom(64)),
        "content_iv": b64(os.urandom(12)),
        "content_tag": b64(os.urandom(16)),
        "created_at": "2026-11-01T08:00:00Z",
        "updated_at": updated_at,
        "device_id": device,
        **extra,
    }
