"""The one import of SEAL's Python bindings.

TenSEAL ships SEAL 4.1's own API as the extension module ``_sealapi_cpp``, which
``tenseal.sealapi`` merely re-exports. Importing ``tenseal.sealapi`` runs ``tenseal/__init__``
first, and that imports numpy, which TenSEAL 0.3.16 does not declare and the server does not
need; so the extension is imported directly, with the package path as a fallback.
"""

from __future__ import annotations

from typing import Any

try:
    import _sealapi_cpp as _bindings
except ImportError:  # pragma: no cover - other TenSEAL layouts
    from tenseal import sealapi as _bindings

sealapi: Any = _bindings

__all__ = ["sealapi"]
