"""Cloud settings (``WELLPIPE_*`` environment variables), and first-start secrets.

Every value has an embedded default, so ``wellpipe cloud serve`` runs from a fresh
clone: a SQLite database and generated keys in the Wellpipe home, and each provider's
built-in sandbox when no developer app is configured for it
(``WELLPIPE_<PROVIDER>_CLIENT_ID``/``_SECRET``). Production sets its own.
"""

from __future__ import annotations

import logging
import os
import secrets
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import click
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wellpipe.core.files import write_private_file

__all__ = ["CloudSettings", "GeneratedSecrets", "ensure_secrets"]

logger = logging.getLogger(__name__)

SECRETS_FILE = "cloud-secrets.env"
SANDBOX_CLIENT = ("wellpipe-cloud-sandbox", "sandbox-secret")
"""The developer app the cloud uses against a provider's built-in sandbox."""


class CloudSettings(BaseSettings):
    """Everything the service reads from its environment.

    Attributes:
        home: Folder for the default database and generated keys (``WELLPIPE_HOME``).
        database_url: SQLAlchemy URL; default SQLite in ``home``. PostgreSQL:
            ``postgresql+psycopg://user:pass@host/db``.
        database_pool_size: The most PostgreSQL connections a worker opens for the
            service's statements, and again for metering (a quarter of it for audit rows):
            every request in flight may hold one while it waits.
        encryption_keys: Key ring for provider tokens, ``kid:base64key`` entries
            separated by commas; the first is used to encrypt.
        api_key_pepper: Server secret keying the API-key verification cache.
        public_url: The origin users and assistants reach (redirect URIs, Host and
            Origin checks, cookie ``Secure`` flag).
        extra_allowed_origins: Further browser origins allowed to call ``/api/mcp``.
        google_client_id: Enables "Sign in with Google" (OpenID Connect).
        google_client_secret: Its secret.
        google_discovery_url: The OpenID provider's discovery document.
        redis_url: Optional Redis for the shared limiters and the short cache.
        free_monthly_limit: Counted requests per calendar month (UTC) on FREE.
        burst_per_minute: Counted requests per minute per user, every plan.
        cache_ttl_s: How long a provider answer may be reused (0 turns the cache off).
        session_ttl_s: How long a dashboard session lasts.
        sandbox: Serve every provider's built-in sandbox instead of the provider
            (``True``), none (``False``), or, by default, each provider that has no
            ``WELLPIPE_<PROVIDER>_CLIENT_ID`` and ``_CLIENT_SECRET``.
        sandbox_origins: Where each sandboxed provider is served (provider name to
            origin, JSON in ``WELLPIPE_SANDBOX_ORIGINS``); `wellpipe cloud serve`
            fills it when it starts the sandboxes.
        revocation_retry_s: How often each worker retries provider revokes that failed
            during an account deletion (0 turns it off).
        oauth_access_ttl_s: How long an assistant's access token lasts (its refresh
            token renews it).
        oauth_refresh_ttl_s: How long an unused refresh token lasts (each use issues a
            new one).
        oauth_registrations_per_hour: Client registrations one network address may make
            per hour (``POST /register``).
        oauth_test_mode: A test mode for assistants' OAuth: client metadata documents
            may be fetched over plain HTTP from loopback addresses (a test origin).
            Refused unless every provider is on its sandbox; off by default.
        oauth_test_user: The test mode, plus: every authorization request is approved at
            once for this email's account (created if needed), without a browser, so that
            automated clients (conformance suites) run end to end.
        jobs_in_process: Run a job worker inside each service process (``True``), or
            leave the jobs to ``wellpipe cloud worker`` processes (``False``/unset).
            ``wellpipe cloud serve`` turns it on for the embedded SQLite default (an
            in-memory queue: jobs do not survive a restart; the store's resumable
            cursors and the reconciliation enqueued at start-up make up for it).
        jobs_concurrency: Jobs one worker runs at once.
        jobs_heartbeat_s: How often a worker tells the queue it is alive.
        jobs_stalled_after_s: A worker silent this long is taken as crashed: its running
            jobs are put back in the queue (at-least-once).
        reconcile_every_s: How often every connection is re-read for what webhooks
            missed (the periodic reconciliation; rounded to a cron cadence).
        background_reserve: The share of each provider window background work (backfills,
            webhook fetches, reconciliation) never spends: it stays for people's questions.
        webhook_max_age_s: Oldest signature timestamp a WHOOP or Oura webhook may carry
            (an integrator practice, not a provider rule: configurable; 0 turns it off).
        oura_webhook_verification_token: The token Oura echoes when it verifies the
            callback (``GET …?verification_token=…&challenge=…``); also sent when
            creating subscriptions. Generated into the secrets file when unset.
        oura_signature_body: What Oura's HMAC covers: ``raw`` (the bytes received), or
            ``reserialized`` (``JSON.stringify`` of the parsed body, as the doc example
            does), or ``either``. Unverified in Oura's docs, hence configurable.
        oura_webhook_data_types: The Oura data types Wellpipe subscribes to (one
            subscription per event type x data type).
        google_webhook_authorization: The ``Authorization`` value configured on the Google
            Health subscriber (``endpointAuthorization.secret``); every notification and
            the verification POST must carry it.
        google_webhook_keyset_url: Google's public Tink keyset for notification signatures.
        google_signature_headers: Headers that may carry Google's signature, in order
            (the name is unverified: ``GOOGLE-HEALTH-API-SIGNATURE`` in the discovery
            document, ``X-HEALTHAPI-SIGNATURE`` in older docs).
    """

    model_config = SettingsConfigDict(env_prefix="WELLPIPE_", extra="ignore", frozen=True)

    home: Path = Field(default_factory=lambda: Path(click.get_app_dir("wellpipe")))
    database_url: str | None = None
    database_pool_size: int = Field(default=20, ge=1, le=500)
    encryption_keys: SecretStr | None = None
    api_key_pepper: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    extra_allowed_origins: list[str] = Field(default_factory=list)
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    redis_url: str | None = None
    free_monthly_limit: int = Field(default=1000, ge=0)
    burst_per_minute: int = Field(default=60, ge=1)
    cache_ttl_s: float = Field(default=120.0, ge=0)
    session_ttl_s: int = Field(default=14 * 24 * 3600, ge=60)
    sandbox: bool | None = None
    sandbox_origins: dict[str, str] = Field(default_factory=dict)
    revocation_retry_s: float = Field(default=300.0, ge=0)
    oauth_access_ttl_s: int = Field(default=3600, ge=60, le=24 * 3600)
    oauth_refresh_ttl_s: int = Field(default=90 * 24 * 3600, ge=3600)
    oauth_registrations_per_hour: int = Field(default=20, ge=1)
    oauth_test_mode: bool = False
    oauth_test_user: str | None = None
    jobs_in_process: bool | None = None
    jobs_concurrency: int = Field(default=4, ge=1, le=256)
    jobs_heartbeat_s: float = Field(default=10.0, gt=0)
    jobs_stalled_after_s: float = Field(default=60.0, gt=0)
    reconcile_every_s: int = Field(default=6 * 3600, ge=60)
    background_reserve: float = Field(default=0.2, ge=0, lt=1)
    webhook_max_age_s: float = Field(default=300.0, ge=0)
    oura_webhook_verification_token: SecretStr | None = None
    oura_signature_body: Literal["raw", "reserialized", "either"] = "either"
    oura_webhook_data_types: list[str] = Field(
        default_factory=lambda: [
            "sleep",
            "daily_sleep",
            "daily_readiness",
            "daily_activity",
            "workout",
            "daily_spo2",
            "daily_stress",
            "vo2_max",
        ]
    )
    google_webhook_authorization: SecretStr | None = None
    google_webhook_keyset_url: str = (
        "https://www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json"
    )
    google_signature_headers: list[str] = Field(
        default_factory=lambda: ["google-health-api-signature", "x-healthapi-signature"]
    )

    @field_validator("public_url")
    @classmethod
    def _origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
            raise ValueError("WELLPIPE_PUBLIC_URL must be an origin like https://wellpipe.example")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or SQLite in the home folder."""
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'cloud.db'}"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry ``Secure`` (and the ``__Host-`` prefix): when served over HTTPS."""
        return self.public_url.startswith("https://")

    @property
    def public_host(self) -> str:
        """``host[:port]`` of `public_url`."""
        return urlsplit(self.public_url).netloc

    def provider_credentials(self, provider: str) -> tuple[str, str] | None:
        """``(client_id, client_secret)`` from ``WELLPIPE_<PROVIDER>_CLIENT_ID``/``_SECRET``."""
        prefix = f"WELLPIPE_{provider.upper()}_"
        client_id = os.environ.get(prefix + "CLIENT_ID", "").strip()
        client_secret = os.environ.get(prefix + "CLIENT_SECRET", "").strip()
        if client_id and client_secret:
            return client_id, client_secret
        return None

    def credentials_for(self, provider: str) -> tuple[str, str] | None:
        """The developer app to use for ``provider``: configured, or the sandbox's own."""
        if self.uses_sandbox(provider):
            return SANDBOX_CLIENT
        return self.provider_credentials(provider)

    def uses_sandbox(self, provider: str) -> bool:
        """Whether ``provider`` is served by its built-in sandbox.

        ``WELLPIPE_SANDBOX`` decides for every provider when set; otherwise a provider
        without a configured developer app is sandboxed.
        """
        if self.sandbox is not None:
            return self.sandbox
        return self.provider_credentials(provider) is None

    @property
    def queue_in_memory(self) -> bool:
        """Whether the job queue lives in memory (the database is not PostgreSQL)."""
        return not self.effective_database_url.startswith("postgresql")

    @property
    def oauth_testing(self) -> bool:
        """Whether the OAuth test mode is on (`oauth_test_mode`, or a test user named)."""
        return self.oauth_test_mode or bool(self.oauth_test_user)


class GeneratedSecrets:
    """What `ensure_secrets` did: which settings it generated, and where they live."""

    def __init__(self, path: Path, generated: list[str]) -> None:
        self.path = path
        self.generated = generated


def _new_key_ring() -> str:
    key = urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return f"k1:{key}"


def ensure_secrets(settings: CloudSettings) -> tuple[CloudSettings, GeneratedSecrets]:
    """Fill missing keys from (or into) ``home/cloud-secrets.env``, written 0600 and atomically.

    Returns the settings with the keys filled in, and what was generated. Keys set
    in the environment always win; the file only fills gaps (a development default).
    """
    path = settings.home / SECRETS_FILE
    stored = _read_env_file(path)
    generated: list[str] = []
    wanted = {
        "WELLPIPE_ENCRYPTION_KEYS": (settings.encryption_keys, _new_key_ring),
        "WELLPIPE_API_KEY_PEPPER": (
            settings.api_key_pepper,
            lambda: urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ),
        "WELLPIPE_OURA_WEBHOOK_VERIFICATION_TOKEN": (
            settings.oura_webhook_verification_token,
            lambda: secrets.token_urlsafe(24),
        ),
    }
    updates: dict[str, str] = {}
    for name, (current, make) in wanted.items():
        if current is not None:
            continue
        if name not in stored:
            stored[name] = make()
            generated.append(name)
        updates[name.removeprefix("WELLPIPE_").lower()] = stored[name]
    if generated:
        _write_env_file(path, stored)
    if not updates:
        return settings, GeneratedSecrets(path, generated)
    filled = settings.model_copy(update={k: SecretStr(v) for k, v in updates.items()})
    return filled, GeneratedSecrets(path, generated)


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = "# Generated by `wellpipe cloud serve` for development. Production: set your own.\n"
    body += "".join(f"{name}={value}\n" for name, value in values.items())
    write_private_file(path, body)
