"""HTTP controllers: DTO in, use case call, DTO out. Domain errors become statuses in
``reflective_app.errors``; no business rule lives here."""

from reflective_app.controllers.auth import AuthController
from reflective_app.controllers.encryption import EncryptionController
from reflective_app.controllers.live import LiveSyncController, SessionController
from reflective_app.controllers.ops import HealthController, RootController
from reflective_app.controllers.sync import SyncController
from reflective_app.controllers.tags import TagController
from reflective_app.controllers.users import UserController

__all__ = [
    "AuthController",
    "EncryptionController",
    "HealthController",
    "LiveSyncController",
    "RootController",
    "SessionController",
    "SyncController",
    "TagController",
    "UserController",
]
