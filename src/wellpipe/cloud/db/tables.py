"""The cloud's tables (SQLAlchemy 2 typed ORM). No health data is stored in the clear.

* ``users``: accounts (argon2id password hash, or a Google subject), plan.
* ``sessions``: dashboard sessions, by SHA-256 of the cookie value, with a CSRF token.
* ``oauth_states``: pending authorization requests (provider connect, Google sign-in):
  single-use, bound to the browser session, expiring; a provider's PKCE verifier
  is stored encrypted.
* ``connections``: one account at one provider; tokens AES-256-GCM encrypted, a
  version counter for compare-and-swap writes.
* ``api_keys``: bcrypt hash of the secret, found by key id.
* ``usage_counters``: the monthly quota counter, one row per user and month.
* ``usage_daily``: counted requests per user, day and endpoint (the usage chart).
* ``audit_events``: append-only security and access events (never values or secrets).
* ``revocations``: provider revokes still to retry after an account was deleted.
* ``upstream_windows``: the shared outbound budget per provider app and window.
* ``oauth_clients``: assistants registered dynamically (RFC 7591); a client secret, when
  one was issued, only as its SHA-256.
* ``oauth_requests``: authorization requests waiting for the person's consent.
* ``oauth_codes``: authorization codes (by SHA-256), single-use, a minute long.
* ``oauth_grants``: what a person allowed one assistant (Connected assistants).
* ``oauth_tokens``: the grants' access and refresh tokens, by SHA-256 only.
* ``history_keys``: each user's history data key, wrapped by the key ring (bound to the
  user, named by key id so rotation re-wraps it). Destroying it is crypto-shredding.
* ``history_records``: the kept records, each sealed under its owner's data key. In the
  clear only what finding them needs: user, provider, kind, local day, and a keyed
  digest of the record's id (keyed by the data key: unlinkable once it is destroyed).
* ``history_spans``: the local days read in full per user, provider and kind (clear).
* ``history_cursors``: each backfilling stream's cursor, sealed under the data key.
* ``webhook_deliveries``: provider webhook deliveries already accepted, by a digest of
  their identity (WHOOP's trace id, Oura's event tuple, a digest of Google's body), so a
  redelivery is answered without doing the work twice; kept for a few days.
* ``oura_subscriptions``: the service's Oura webhook subscriptions (one per event type x
  data type) and when each expires.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "AuditEvent",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Base",
    "Connection",
    "HistoryCursor",
    "HistoryKey",
    "HistoryRecord",
    "HistorySpan",
    "OAuthClient",
    "OAuthGrant",
    "OAuthState",
    "OAuthToken",
    "OuraSubscription",
    "PendingRevocation",
    "Session",
    "UpstreamWindow",
    "UsageCounter",
    "UsageDaily",
    "User",
    "WebhookDelivery",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware instant")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Instant = UTCDateTime()


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic-friendly)."""

    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """An account."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    google_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    plan: Mapped[str] = mapped_column(String(16), default="FREE")
    created_at: Mapped[datetime] = mapped_column(Instant)


class Session(Base):
    """A signed-in browser. The cookie holds the token; the row holds its SHA-256."""

    __tablename__ = "sessions"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime] = mapped_column(Instant)


class OAuthState(Base):
    """A pending authorization request. Deleted on first use, whatever the outcome."""

    __tablename__ = "oauth_states"

    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))  # "connect:<provider>" or "signin:google"
    browser_binding: Mapped[str] = mapped_column(String(64))  # digest of the session/pre-session
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    nonce: Mapped[str | None] = mapped_column(String(64))
    sealed_verifier: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """A provider connect's PKCE verifier, encrypted (`TokenCipher`, bound to the state)."""
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime] = mapped_column(Instant)


class Connection(Base):
    """One account at one provider. Token columns hold `TokenCipher` envelopes."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | needs_reauth
    status_reason: Mapped[str | None] = mapped_column(Text)
    access_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    refresh_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))  # the key both token envelopes use
    expires_at: Mapped[datetime | None] = mapped_column(Instant)
    scopes: Mapped[str] = mapped_column(Text, default="")
    provider_user_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)


class ApiKey(Base):
    """An API key: ``wp_live_<id>_<secret><checksum>``; only a bcrypt hash of it is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the public key id
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(100))
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(Instant)
    last_used_at: Mapped[datetime | None] = mapped_column(Instant)
    revoked_at: Mapped[datetime | None] = mapped_column(Instant)


class UsageCounter(Base):
    """Counted requests of one user in one calendar month (UTC), ``period`` = ``YYYY-MM``."""

    __tablename__ = "usage_counters"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class UsageDaily(Base):
    """Counted requests of one user on one UTC day at one endpoint (REST route or MCP tool)."""

    __tablename__ = "usage_daily"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """One security or access event. ``detail`` is JSON without values or secrets."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(Instant)
    event: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    request_id: Mapped[str | None] = mapped_column(String(64))


class PendingRevocation(Base):
    """A provider revoke that failed during account deletion, retried later.

    The token is encrypted under an associated-data binding of this row's id, not the
    (deleted) user's; the row goes away once the revoke succeeds or gives up.
    """

    __tablename__ = "revocations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    access_token: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(Instant)
    give_up_at: Mapped[datetime] = mapped_column(Instant)


class UpstreamWindow(Base):
    """Requests sent to one provider app in one fixed window (the shared outbound budget)."""

    __tablename__ = "upstream_windows"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class OAuthClient(Base):
    """An assistant registered through dynamic client registration (RFC 7591).

    ``metadata_json`` holds what it registered (name, redirect URIs, auth method), as
    untrusted text. A client that never completes a grant expires (``expires_at``).
    Clients identified by a metadata document (an https ``client_id``) have a row only
    once the operator revoked them (``revoked_at``).
    """

    __tablename__ = "oauth_clients"
    __table_args__ = (Index("ix_oauth_clients_source_created", "source_digest", "created_at"),)

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    metadata_json: Mapped[str] = mapped_column(Text)
    source_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime | None] = mapped_column(Instant, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(Instant)


class AuthorizationRequest(Base):
    """An authorization request waiting for consent, bound to the browser that made it."""

    __tablename__ = "oauth_requests"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_binding: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(512))
    client_name: Mapped[str] = mapped_column(String(100))
    client_kind: Mapped[str] = mapped_column(String(8))  # "dcr" | "cimd"
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime] = mapped_column(Instant)


class AuthorizationCode(Base):
    """An authorization code: single-use, short-lived, bound to PKCE, redirect and resource."""

    __tablename__ = "oauth_codes"

    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(512))
    client_name: Mapped[str] = mapped_column(String(100))
    client_kind: Mapped[str] = mapped_column(String(8))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime] = mapped_column(Instant)
    used_at: Mapped[datetime | None] = mapped_column(Instant)
    grant_id: Mapped[str | None] = mapped_column(String(32))


class OAuthGrant(Base):
    """What one person allowed one assistant: the dashboard's Connected assistants."""

    __tablename__ = "oauth_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(512), index=True)
    client_name: Mapped[str] = mapped_column(String(100))
    client_kind: Mapped[str] = mapped_column(String(8))
    redirect_host: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(Instant)
    last_used_at: Mapped[datetime | None] = mapped_column(Instant)
    period: Mapped[str | None] = mapped_column(String(7))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(Instant)


class OAuthToken(Base):
    """An access or refresh token of a grant, by SHA-256 (the token itself is never kept)."""

    __tablename__ = "oauth_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))  # "access" | "refresh"
    created_at: Mapped[datetime] = mapped_column(Instant)
    expires_at: Mapped[datetime] = mapped_column(Instant, index=True)
    spent_at: Mapped[datetime | None] = mapped_column(Instant)
    replaced_by: Mapped[str | None] = mapped_column(String(64))


class WebhookDelivery(Base):
    """A provider webhook delivery already accepted (deduplication; no payload is kept).

    ``digest`` is the SHA-256 of the provider and the delivery's identity; a second
    delivery with the same digest is acknowledged and dropped.
    """

    __tablename__ = "webhook_deliveries"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(Instant, index=True)


class OuraSubscription(Base):
    """One of the service's Oura webhook subscriptions (per event type x data type)."""

    __tablename__ = "oura_subscriptions"
    __table_args__ = (UniqueConstraint("event_type", "data_type"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # Oura's subscription id
    event_type: Mapped[str] = mapped_column(String(16))
    data_type: Mapped[str] = mapped_column(String(64))
    callback_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)


Index(
    "ix_connections_provider_account",
    Connection.provider,
    Connection.provider_user_id,
)
"""Webhooks name the provider's account: find its connection without a scan."""


# ------------------------------------------------------------ history (wellpipe.cloud.db.history)
class HistoryKey(Base):
    """A user's history data key, wrapped (`wrap_data_key`, a `TokenCipher` envelope)."""

    __tablename__ = "history_keys"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(32))  # the ring key that wraps it
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Instant)


class HistoryRecord(Base):
    """One kept record, sealed under its owner's data key; its id only as a keyed digest."""

    __tablename__ = "history_records"
    __table_args__ = (Index("ix_history_records_day", "user_id", "provider", "kind", "day"),)

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class HistorySpan(Base):
    """Local days ``first`` to ``last`` of one kind read in full from the provider."""

    __tablename__ = "history_spans"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    first: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[date] = mapped_column(Date)
    refreshed_at: Mapped[datetime] = mapped_column(Instant)


class HistoryCursor(Base):
    """One stream's backfill cursor, sealed under the owner's data key."""

    __tablename__ = "history_cursors"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
