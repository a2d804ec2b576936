"""The server's name and version, as installed."""

from __future__ import annotations

from importlib import metadata

SERVICE_NAME = "reflective-server"


def server_version() -> str:
    try:
        return metadata.version(SERVICE_NAME)
    except metadata.PackageNotFoundError:
        from reflective_domain import __version__

        return __version__
