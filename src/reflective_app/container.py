"""The composition root: every adapter and use case the server runs with, wired once, and
the only one: the app (``main.create_app``), the server's commands (``reflective users``,
``dev-reset``) and the tests (``tests/composition.py``: memory adapters and fakes as
overrides) all build this container. ``USE_CASES``, the providers handlers receive, is read
from it.

Async resources (the database and its engine) start in the app's lifespan through
``init_resources()``; nothing connects at import or construction. Tests override providers,
e.g. ``container.database_url.override(providers.Object(url))`` or
``container.uow_factory.override(providers.Object(factory))``, before the app starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers

from reflective_adapters.he import SealAggregator, SealCiphertextValidator
from reflective_adapters.postgres import make_session_factory
from reflective_adapters.postgres.lifecycle import (
    PgDatabase,
    PoolOptions,
    open_database,
    open_engine,
    unit_of_work_factory,
)
from reflective_adapters.postgres.live import (
    PgDeviceDirectory,
    PgStreamSlots,
    PgTicketStore,
    asyncpg_connector,
)
from reflective_adapters.postgres.repositories.directory import PgUserDirectory
from reflective_adapters.security import Argon2PasswordHasher, JwtTokenService
from reflective_adapters.system import SystemClock, Uuid4Ids
from reflective_app.live import open_event_hub
from reflective_app.settings import Settings, signing_secret
from reflective_domain.entries import EntryLimits, Retention
from reflective_domain.he_params import CkksParameters
from reflective_domain.live import (
    CurrentCursor,
    ForgetDevice,
    IssueEventTicket,
    ListDevices,
    OpenEventStream,
)
from reflective_domain.throttling import RateLimit
from reflective_domain.use_cases.accounts import (
    Authorize,
    DeleteAccount,
    GetPreferences,
    GetProfile,
    RefreshSession,
    Register,
    SessionPolicy,
    SignIn,
    SignOut,
    UpdatePreferences,
    UpdateProfile,
)
from reflective_domain.use_cases.admin import DeleteUser, FindUser, ListUsers, SetUserDisabled
from reflective_domain.use_cases.batch import PushBatch
from reflective_domain.use_cases.conflicts import GetConflict, ListConflicts, ResolveConflict
from reflective_domain.use_cases.export import ExportData, ExportPages
from reflective_domain.use_cases.limits import CheckRateLimit
from reflective_domain.use_cases.metrics import (
    Aggregate,
    DeleteAllMetrics,
    MetricLimits,
    RetractMetrics,
    RollupBook,
    UploadMetrics,
)
from reflective_domain.use_cases.packed_metrics import ReadPackedMetrics, UploadPackedMetrics
from reflective_domain.use_cases.privacy import ChangeTier, GetPrivacy, RevokeSync
from reflective_domain.use_cases.sessions import EndSession, ListSessions
from reflective_domain.use_cases.sync import (
    DeleteAllEntries,
    DeleteEntry,
    DeleteRevisions,
    ListBackups,
    ListRevisions,
    PullChanges,
    PushEntry,
)
from reflective_domain.use_cases.tags import CleanupTags, CreateTag, DeleteTag, ListTags, UpdateTag

RATE_LIMITED_ROUTES = ("register", "refresh", "aggregate", "metrics_upload", "export")


def rate_limits_from(settings: Settings) -> dict[str, RateLimit]:
    limits = {}
    for name in RATE_LIMITED_ROUTES:
        count, seconds = getattr(settings, f"rate_limit_{name}")
        if count > 0:
            limits[name] = RateLimit(count, timedelta(seconds=seconds))
    return limits


def registration_hasher_from(hasher: Any, max_concurrency: int) -> Any:
    limited = getattr(hasher, "limited", None)
    return limited(max_concurrency) if limited is not None else hasher


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings.from_env)

    # Database: resolved (embedded if no URL) and migrated at startup, then the engine.
    database_url = providers.Resource(
        open_database,
        settings.provided.database_url,
        settings.provided.data_dir,
        settings.provided.migrate_on_start,
    )
    # The pool keeps a connection per request admitted at once (see ``admission``); a request
    # waits for one at most as long as for admission.
    pool_options = providers.Singleton(
        PoolOptions,
        pool_size=settings.provided.db_pool_size,
        max_overflow=settings.provided.db_max_overflow,
        pool_timeout=settings.provided.admission_wait_seconds,
        statement_timeout_ms=settings.provided.db_statement_timeout_ms,
        lock_timeout_ms=settings.provided.db_lock_timeout_ms,
        idle_in_transaction_timeout_ms=settings.provided.db_idle_in_transaction_timeout_ms,
        command_timeout_seconds=settings.provided.db_command_timeout_seconds,
        pgbouncer=settings.provided.db_pgbouncer,
    )
    engine = providers.Resource(open_engine, database_url, pool_options)
    session_factory = providers.Singleton(make_session_factory, engine)
    uow_factory = providers.Singleton(unit_of_work_factory, session_factory)
    # Readiness ping and development reset; built per use, so an override of the engine applies.
    database = providers.Factory(PgDatabase, engine)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid4Ids)
    hasher = providers.Singleton(
        Argon2PasswordHasher, max_concurrency=settings.provided.password_hash_concurrency
    )
    tokens = providers.Singleton(
        JwtTokenService,
        secret=providers.Callable(signing_secret, settings),
        issuer=settings.provided.token_issuer,
        audience=settings.provided.token_audience,
        access_ttl_seconds=settings.provided.access_ttl_seconds,
        clock=clock,
    )
    session_policy = providers.Singleton(
        SessionPolicy,
        refresh_ttl=providers.Callable(timedelta, days=settings.provided.refresh_token_expire_days),
    )

    # Homomorphic encryption: the parameters announced to clients, and key-free arithmetic.
    ckks_parameters = providers.Singleton(CkksParameters.default)
    ckks_also_accepted = providers.Object((CkksParameters.original(),))
    ciphertext_validator = providers.Singleton(SealCiphertextValidator)
    he_aggregator = providers.Singleton(SealAggregator)

    # Accounts and sessions
    # Registration hashes with a small semaphore of its own, so a registration flood can never
    # hold the hashing slots sign-ins need.
    registration_hasher = providers.Singleton(
        registration_hasher_from, hasher, settings.provided.registration_hash_concurrency
    )
    register = providers.Factory(Register, uow_factory, registration_hasher, clock, ids)
    sign_in = providers.Factory(SignIn, uow_factory, hasher, tokens, clock, ids, session_policy)
    refresh_session = providers.Factory(
        RefreshSession, uow_factory, tokens, clock, ids, session_policy
    )
    sign_out = providers.Factory(SignOut, uow_factory, clock)
    authorize = providers.Factory(Authorize, uow_factory, tokens)
    get_profile = providers.Factory(GetProfile, uow_factory, clock)
    update_profile = providers.Factory(UpdateProfile, uow_factory, hasher, clock, get_profile)
    get_preferences = providers.Factory(GetPreferences, uow_factory)
    update_preferences = providers.Factory(UpdatePreferences, uow_factory, clock)
    delete_account = providers.Factory(DeleteAccount, uow_factory, hasher, clock)
    export_data = providers.Factory(ExportData, uow_factory, he_aggregator)
    export_pages = providers.Factory(ExportPages, uow_factory, ciphertexts=he_aggregator)

    # Privacy tiers
    get_privacy = providers.Factory(GetPrivacy, uow_factory)
    change_tier = providers.Factory(
        ChangeTier, uow_factory, ciphertext_validator, clock, ckks_parameters, ckks_also_accepted
    )
    revoke_sync = providers.Factory(RevokeSync, change_tier)

    # Limits and quotas
    retention = providers.Singleton(
        Retention,
        max_per_entry=settings.provided.revision_history_max,
        days=settings.provided.revision_history_days,
    )
    entry_limits = providers.Singleton(
        EntryLimits,
        max_content_bytes=settings.provided.max_entry_bytes,
        max_user_bytes=settings.provided.user_storage_quota_bytes,
        retention=retention,
    )
    metric_limits = providers.Singleton(
        MetricLimits,
        max_batch=settings.provided.max_metrics_per_request,
        max_per_user=settings.provided.max_metrics_per_user,
        max_bytes_per_user=settings.provided.metric_quota_bytes,
        chunk=settings.provided.metrics_upload_chunk,
    )

    # Tags (their bytes count against the same storage quota as entries)
    create_tag = providers.Factory(
        CreateTag, uow_factory, clock, ids, settings.provided.max_tags_per_user, entry_limits
    )
    list_tags = providers.Factory(ListTags, uow_factory)
    update_tag = providers.Factory(UpdateTag, uow_factory, clock, entry_limits)
    delete_tag = providers.Factory(DeleteTag, uow_factory)
    cleanup_tags = providers.Factory(CleanupTags, uow_factory, clock)

    rate_limits = providers.Singleton(rate_limits_from, settings)
    check_rate_limit = providers.Factory(CheckRateLimit, uow_factory, clock, rate_limits)

    # Encrypted metrics
    upload_metrics = providers.Factory(
        UploadMetrics, uow_factory, ciphertext_validator, he_aggregator, ids, metric_limits
    )
    aggregate = providers.Factory(Aggregate, uow_factory, he_aggregator)
    delete_all_metrics = providers.Factory(DeleteAllMetrics, uow_factory)
    rollup_book = providers.Singleton(RollupBook, he_aggregator)
    retract_metrics = providers.Factory(RetractMetrics, uow_factory, he_aggregator)
    upload_packed_metrics = providers.Factory(
        UploadPackedMetrics, uow_factory, ciphertext_validator, he_aggregator, metric_limits
    )
    read_packed_metrics = providers.Factory(ReadPackedMetrics, uow_factory, he_aggregator)

    # Entry sync and conflicts
    push_entry = providers.Factory(PushEntry, uow_factory, clock, ids, entry_limits)
    push_batch = providers.Factory(PushBatch, uow_factory, clock, ids, entry_limits)
    pull_changes = providers.Factory(PullChanges, uow_factory)
    list_backups = providers.Factory(ListBackups, uow_factory)
    delete_entry = providers.Factory(DeleteEntry, uow_factory, clock, rollup_book, entry_limits)
    list_revisions = providers.Factory(ListRevisions, uow_factory)
    delete_revisions = providers.Factory(DeleteRevisions, uow_factory)
    delete_all_entries = providers.Factory(DeleteAllEntries, uow_factory)
    list_conflicts = providers.Factory(ListConflicts, uow_factory)
    get_conflict = providers.Factory(GetConflict, uow_factory)
    resolve_conflict = providers.Factory(ResolveConflict, uow_factory, clock, entry_limits)

    # Administration (the `reflective users` commands)
    user_directory = providers.Singleton(PgUserDirectory, session_factory)
    list_users = providers.Factory(ListUsers, user_directory)
    find_user = providers.Factory(FindUser, uow_factory)
    set_user_disabled = providers.Factory(SetUserDisabled, uow_factory, clock)
    delete_user = providers.Factory(DeleteUser, uow_factory)
    # Live sync (change notifications), sessions and devices
    stream_slots = providers.Singleton(PgStreamSlots, engine)
    event_hub = providers.Resource(
        open_event_hub,
        settings,
        providers.Callable(asyncpg_connector, engine, settings.provided.listen_database_url),
        stream_slots,
        clock,
    )
    ticket_store = providers.Singleton(PgTicketStore, engine)
    device_directory = providers.Singleton(PgDeviceDirectory, engine)
    issue_event_ticket = providers.Factory(IssueEventTicket, ticket_store, clock)
    open_event_stream = providers.Factory(
        OpenEventStream,
        stream_slots,
        clock,
        settings.provided.max_event_streams_per_user,
        settings.provided.events_heartbeat_seconds,
    )
    current_cursor = providers.Factory(CurrentCursor, uow_factory)
    list_devices = providers.Factory(ListDevices, device_directory)
    forget_device = providers.Factory(ForgetDevice, device_directory)
    list_sessions = providers.Factory(ListSessions, uow_factory, clock)
    end_session = providers.Factory(EndSession, uow_factory, clock)


def is_use_case(provider: providers.Provider[Any]) -> bool:
    """A use case: built afresh for each call (a ``Factory``) from a domain class; everything
    else here is an adapter, a setting or a value shared for the process's life."""
    return isinstance(provider, providers.Factory) and provider.cls.__module__.startswith(
        "reflective_domain."
    )


USE_CASES: tuple[str, ...] = tuple(
    name for name, provider in Container.providers.items() if is_use_case(provider)
)
"""Providers handlers receive as dependencies, by the same name: every use case above."""
