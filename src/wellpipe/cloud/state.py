"""`ServiceState`: what one worker process holds in memory, one typed field per concern.

Everything that matters lives in the database (or Redis), so any number of workers serve
the same data; a process only keeps what spares work or holds a lock. Each field belongs to
one service, which builds it on first use (some depend on Redis, connected at start-up).
Tests reach them as fields too (`CloudContext.state`), never through string keys.

No runtime imports of the services here: they import the context, which holds this.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anyio
    import httpx2

    from wellpipe.cloud.db.connections import ConnectionInfo
    from wellpipe.cloud.db.engine import DriverStatement
    from wellpipe.cloud.security.passwords import PasswordHasher
    from wellpipe.cloud.services.cache import AnswerCache
    from wellpipe.cloud.services.client_documents import ClientDocuments
    from wellpipe.cloud.services.health import AccessLog, SharedTransport
    from wellpipe.cloud.services.keys import VerificationCache
    from wellpipe.cloud.services.limits import Meter
    from wellpipe.cloud.services.tokens import TokenLocks
    from wellpipe.cloud.services.upstream import UpstreamBudget
    from wellpipe.providers.connector import ProviderConnector

__all__ = ["ServiceState"]


@dataclass
class ServiceState:
    """The per-process state of one running service.

    Attributes:
        key_cache: Recent successful API-key verifications (`services.keys`).
        bcrypt_slots: bcrypt checks at once, one per core (`services.keys`).
        key_checks: Key verifications in flight, so concurrent requests share one.
        process_pepper: Keys the verification cache when no pepper is configured.
        password_hasher: Account passwords' argon2id hasher (`services.accounts`);
            tests may set a cheaper one.
        token_locks: Per-connection refresh locks and pairs waiting to be saved
            (`services.tokens`).
        meter: The metering statements and the Redis burst script (`services.limits`).
        answer_cache: Provider answers kept for a few minutes (`services.cache`).
        budgets: Each provider app's shared request budget (`services.upstream`).
        provider_http: The connection pool every provider client shares
            (`services.health`).
        access_log: ``data.accessed`` rows waiting to be group-committed.
        connectors: Each provider's connector, looked up once.
        connection_lists: Each user's connections as last read, and until when (monotonic)
            an active one among them is trusted without reading again.
        audit_statement: PostgreSQL's compiled audit insert (`services.audit`).
        google_transport: Where calls to Google's sign-in go (tests: a fake).
        google_discovery: Google's OpenID configuration and when it was read.
        google_keys: Google's signing keys and when they were read.
        client_documents: Assistants' client metadata documents, fetched and cached
            (`services.client_documents`).
    """

    key_cache: VerificationCache | None = None
    bcrypt_slots: anyio.CapacityLimiter | None = None
    key_checks: dict[tuple[bytes, bytes], anyio.Event] = field(default_factory=dict)
    process_pepper: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    password_hasher: PasswordHasher | None = None
    token_locks: TokenLocks | None = None
    meter: Meter | None = None
    answer_cache: AnswerCache | None = None
    budgets: dict[str, UpstreamBudget] = field(default_factory=dict)
    provider_http: SharedTransport | None = None
    access_log: AccessLog | None = None
    connectors: dict[str, ProviderConnector] = field(default_factory=dict)
    connection_lists: dict[str, tuple[float, tuple[ConnectionInfo, ...]]] = field(
        default_factory=dict
    )
    audit_statement: DriverStatement | None = None
    google_transport: httpx2.AsyncBaseTransport | None = None
    google_discovery: tuple[float, Any] | None = None
    google_keys: tuple[float, Any] | None = None
    client_documents: ClientDocuments | None = None
