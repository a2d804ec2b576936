"""Rows to domain objects and back, by hand: the domain never sees a row, the tables never see
a domain object. ``*_values`` build the column dict for an INSERT/UPDATE; ``*_from_row`` read a
result row (anything with attribute access by column name)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from reflective_domain.accounts import AccountState, Preferences, User
from reflective_domain.entries import Conflict, Entry, EntryVersion, Resolution
from reflective_domain.he_params import CkksParameters, HePublicKey
from reflective_domain.metrics import EncryptedMetric, Period, Rollup
from reflective_domain.sessions import RefreshToken
from reflective_domain.tags import Tag
from reflective_domain.tiers import PrivacyTier

Values = dict[str, Any]


def user_values(user: User) -> Values:
    prefs = user.preferences
    key = user.he_public_key
    return {
        "id": user.id,
        "email": user.email,
        "password_hash": user.password_hash,
        "display_name": user.display_name,
        "timezone": prefs.timezone,
        "locale": prefs.locale,
        "daily_word_goal": prefs.daily_word_goal,
        "writing_reminder_time": prefs.writing_reminder_time,
        "theme_preferences": dict(prefs.theme_preferences),
        "ai_features_enabled": prefs.ai_features_enabled,
        "privacy_tier": user.privacy_tier.value,
        "he_public_key": key.data if key else None,
        "he_poly_modulus_degree": key.parameters.poly_modulus_degree if key else None,
        "he_coeff_mod_bit_sizes": list(key.parameters.coeff_mod_bit_sizes) if key else None,
        "he_scale": key.parameters.scale if key else None,
        "consent_at": user.consent_at,
        "sync_enabled_at": user.sync_enabled_at,
        "sessions_revoked_at": user.sessions_revoked_at,
        "version": user.version,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def state_from_row(row: Any) -> AccountState:
    return AccountState(
        id=row.id,
        privacy_tier=PrivacyTier(row.privacy_tier),
        sessions_revoked_at=row.sessions_revoked_at,
        change_seq=int(row.change_seq),
        stored_bytes=int(row.stored_bytes),
        disabled=bool(row.disabled),
    )


def user_from_row(row: Any) -> User:
    """A row with the HE key columns or without them (then ``he_public_key`` is None)."""
    key = None
    if getattr(row, "he_public_key", None) is not None:
        key = HePublicKey(
            data=bytes(row.he_public_key),
            parameters=CkksParameters(
                poly_modulus_degree=row.he_poly_modulus_degree,
                coeff_mod_bit_sizes=tuple(row.he_coeff_mod_bit_sizes),
                scale=row.he_scale,
            ),
        )
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        display_name=row.display_name,
        preferences=Preferences(
            timezone=row.timezone,
            locale=row.locale,
            daily_word_goal=row.daily_word_goal,
            writing_reminder_time=row.writing_reminder_time,
            theme_preferences=dict(row.theme_preferences),
            ai_features_enabled=row.ai_features_enabled,
        ),
        privacy_tier=PrivacyTier(row.privacy_tier),
        he_public_key=key,
        consent_at=row.consent_at,
        sync_enabled_at=row.sync_enabled_at,
        sessions_revoked_at=row.sessions_revoked_at,
        version=row.version,
        disabled=row.disabled,
    )


def tag_values(tag: Tag) -> Values:
    return {
        "user_id": tag.user_id,
        "id": tag.id,
        "name": tag.name,
        "name_key": tag.key,
        "color": tag.color,
        "created_at": tag.created_at,
        "last_used_at": tag.last_used_at,
    }


def tag_from_row(row: Any) -> Tag:
    return Tag(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        color=row.color,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _version_values(version: EntryVersion | None, prefix: str = "") -> Values:
    v = version
    return {
        f"{prefix}content": v.content if v else None,
        f"{prefix}iv": v.iv if v else None,
        f"{prefix}tag": v.tag if v else None,
        f"{prefix}embedding": v.embedding if v else None,
        f"{prefix}embedding_iv": v.embedding_iv if v else None,
        f"{prefix}created_at": v.created_at if v else None,
        f"{prefix}updated_at": v.updated_at if v else None,
    }


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def entry_values(entry: Entry) -> Values:
    return {
        "user_id": entry.user_id,
        "id": entry.id,
        "revision": entry.revision,
        "change_seq": entry.change_seq,
        "device_id": entry.device_id,
        "synced_at": entry.synced_at,
        "version_device_id": entry.version.device_id if entry.version else None,
        **_version_values(entry.version),
    }


def entry_from_row(row: Any) -> Entry:
    version = None
    if row.content is not None:
        version = EntryVersion(
            content=bytes(row.content),
            iv=bytes(row.iv),
            tag=_opt_bytes(row.tag),
            created_at=row.created_at,
            updated_at=row.updated_at,
            device_id=row.version_device_id,
            embedding=_opt_bytes(row.embedding),
            embedding_iv=_opt_bytes(row.embedding_iv),
        )
    return Entry(
        id=row.id,
        user_id=row.user_id,
        revision=row.revision,
        change_seq=row.change_seq,
        device_id=row.device_id,
        synced_at=row.synced_at,
        version=version,
    )


_ENTRY_FIELDS = (
    "id",
    "user_id",
    "revision",
    "change_seq",
    "device_id",
    "synced_at",
    "content",
    "iv",
    "tag",
    "created_at",
    "updated_at",
    "version_device_id",
    "embedding",
    "embedding_iv",
)


def entry_reader(columns: Sequence[str]) -> Callable[[Any], Entry]:
    """``entry_from_row`` for rows whose columns are ``columns``, in that order: the values
    are taken by position in one call, which costs a fraction of reading fourteen attributes
    by name (the listing and the change feed map up to 500 rows a request)."""
    take = itemgetter(*(list(columns).index(name) for name in _ENTRY_FIELDS))

    def read(row: Any) -> Entry:
        (
            entry_id,
            user_id,
            revision,
            change_seq,
            device_id,
            synced_at,
            content,
            iv,
            tag,
            created_at,
            updated_at,
            version_device_id,
            embedding,
            embedding_iv,
        ) = take(row)
        version = None
        if content is not None:
            version = EntryVersion(
                content=content if type(content) is bytes else bytes(content),
                iv=iv if type(iv) is bytes else bytes(iv),
                tag=tag if tag is None or type(tag) is bytes else bytes(tag),
                created_at=created_at,
                updated_at=updated_at,
                device_id=version_device_id,
                embedding=_opt_bytes(embedding),
                embedding_iv=_opt_bytes(embedding_iv),
            )
        return Entry(
            id=entry_id,
            user_id=user_id,
            revision=revision,
            change_seq=change_seq,
            device_id=device_id,
            synced_at=synced_at,
            version=version,
        )

    return read


def conflict_values(conflict: Conflict) -> Values:
    return {
        "user_id": conflict.user_id,
        "id": conflict.id,
        "entry_id": conflict.entry_id,
        "local_device_id": conflict.local.device_id,
        **_version_values(conflict.local, prefix="local_"),
        "remote_revision": conflict.remote_revision,
        "generation": conflict.generation,
        "detected_at": conflict.detected_at,
        "resolved_at": conflict.resolved_at,
        "resolution": conflict.resolution.value if conflict.resolution else None,
    }


def conflict_from_row(row: Any) -> Conflict:
    return Conflict(
        id=row.id,
        user_id=row.user_id,
        entry_id=row.entry_id,
        local=EntryVersion(
            content=bytes(row.local_content),
            iv=bytes(row.local_iv),
            tag=_opt_bytes(row.local_tag),
            created_at=row.local_created_at,
            updated_at=row.local_updated_at,
            device_id=row.local_device_id,
            embedding=_opt_bytes(row.local_embedding),
            embedding_iv=_opt_bytes(row.local_embedding_iv),
        ),
        remote_revision=row.remote_revision,
        generation=row.generation,
        detected_at=row.detected_at,
        resolved_at=row.resolved_at,
        resolution=Resolution(row.resolution) if row.resolution is not None else None,
    )


def metric_values(metric: EncryptedMetric) -> Values:
    return {
        "user_id": metric.user_id,
        "id": metric.id,
        "metric_type": metric.metric_type,
        "ts": metric.timestamp,
        "ciphertext": metric.ciphertext,
        "upload_key": metric.upload_key,
        "log_id": metric.log_id,
    }


def metric_from_row(row: Any) -> EncryptedMetric:
    return EncryptedMetric(
        id=row.id,
        user_id=row.user_id,
        metric_type=row.metric_type,
        timestamp=row.ts,
        ciphertext=bytes(row.ciphertext),
        upload_key=None if row.upload_key is None else bytes(row.upload_key),
        log_id=row.log_id,
    )


def rollup_values(rollup: Rollup) -> Values:
    return {
        "user_id": rollup.user_id,
        "metric_type": rollup.metric_type,
        "period": rollup.period.value,
        "starts_on": rollup.start,
        "count": rollup.count,
        "ciphertext": rollup.ciphertext,
    }


def rollup_from_row(row: Any) -> Rollup:
    return Rollup(
        user_id=row.user_id,
        metric_type=row.metric_type,
        period=Period(row.period),
        start=row.starts_on,
        count=row.count,
        ciphertext=bytes(row.ciphertext),
    )


def refresh_token_values(token: RefreshToken) -> Values:
    return {
        "id": token.id,
        "user_id": token.user_id,
        "family_id": token.family_id,
        "token_hash": token.token_hash,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "revoked_at": token.revoked_at,
        "device_name": token.device_name,
        "session_started_at": token.session_started_at,
    }


def refresh_token_from_row(row: Any) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        user_id=row.user_id,
        family_id=row.family_id,
        token_hash=bytes(row.token_hash),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
        device_name=row.device_name,
        session_started_at=row.session_started_at,
    )
