"""`EnvTokenProvider`: one account's tokens in the CLI's ``.env``, refreshed single-flight.

The refresh is single-flight across every Wellpipe process on the machine.

Several processes share the file: Claude Desktop may run more than one
``wellpipe serve``, and CLI commands run beside them. WHOOP rotates refresh
tokens and revokes the whole grant when a spent one is presented again, so two
processes refreshing at once would log the user out (security.md §1.4). Hence:

* refreshes take an OS file lock (``.env.lock``, R-1.9), after an in-process
  `anyio.Lock` so the coroutines of one process queue without touching the OS;
* the getters read the file (cached on its identity and size, re-read on entry
  to the lock), so a token another process just wrote is used, not refreshed
  again (R-1.10);
* a new pair is written in one atomic rewrite of the ``.env`` (R-1.11, R-1.14,
  R-1.19), keeping the previous refresh token when a response carries none;
* only ``invalid_grant`` marks the grant dead (``WHOOP_GRANT_ERROR``); tokens
  are never deleted (R-1.13);
* a refresh that got no usable answer is remembered (``WHOOP_REFRESH_UNANSWERED_AT``):
  where refresh tokens rotate, the provider may have spent the stored one, so a
  later ``invalid_grant`` is explained as that, not as a token nobody had;
* tokens in the process environment only seed a file that holds none: once the
  file has tokens it wins, because only the file is rewritten when they rotate
  (R-1.18).

Token values are never logged.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from wellpipe.cli.env_file import FILE_MODE, EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.core.errors import ProviderError, ProviderResponseError, ProviderUnavailable
from wellpipe.core.ports import Clock
from wellpipe.core.tokens import TokenSet

if TYPE_CHECKING:
    import filelock

__all__ = ["EnvTokenProvider", "TokenKeys", "spent_reason", "store_tokens"]

logger = logging.getLogger(__name__)

_LOCK_POLL_S = 0.005
_LOCK_SLICE_S = 0.25
"""How long one blocking attempt in a worker thread waits, so cancellation is honoured promptly."""

_held: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "wellpipe_env_token_locks", default=frozenset()
)
"""Ids of the `EnvTokenProvider` s whose refresh lock the current task holds."""


@dataclass(frozen=True)
class TokenKeys:
    """The ``.env`` keys of one provider's tokens (``WHOOP_ACCESS_TOKEN``, ...)."""

    prefix: str

    @classmethod
    def for_provider(cls, provider: str) -> TokenKeys:
        """Keys for ``provider`` (the prefix is its name upper-cased)."""
        return cls(prefix=provider.upper())

    @property
    def access(self) -> str:
        """The access token."""
        return f"{self.prefix}_ACCESS_TOKEN"

    @property
    def refresh(self) -> str:
        """The refresh token."""
        return f"{self.prefix}_REFRESH_TOKEN"

    @property
    def expires_at(self) -> str:
        """When the access token expires, ISO-8601 with offset."""
        return f"{self.prefix}_TOKEN_EXPIRES_AT"

    @property
    def scopes(self) -> str:
        """The granted scopes, space-separated."""
        return f"{self.prefix}_TOKEN_SCOPES"

    @property
    def grant_error(self) -> str:
        """Present only when the grant is dead: why."""
        return f"{self.prefix}_GRANT_ERROR"

    @property
    def granted_at(self) -> str:
        """When ``wellpipe auth`` stored this grant, ISO-8601 with offset (refreshes keep it)."""
        return f"{self.prefix}_GRANTED_AT"

    @property
    def refresh_unanswered(self) -> str:
        """When a refresh was sent but got no usable answer, ISO-8601 (the token may be spent)."""
        return f"{self.prefix}_REFRESH_UNANSWERED_AT"

    @property
    def token_keys(self) -> tuple[str, str, str, str]:
        """The keys that together describe the stored tokens."""
        return (self.access, self.refresh, self.expires_at, self.scopes)


def _parse_expiry(value: str | None, *, key: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        logger.warning("%s is not an ISO-8601 time; treating the expiry as unknown", key)
        return None
    if parsed.tzinfo is None:
        logger.warning("%s has no UTC offset; treating the expiry as unknown", key)
        return None
    return parsed


def _token_changes(keys: TokenKeys, tokens: TokenSet) -> dict[str, str | None]:
    return {
        keys.access: tokens.access_token,
        keys.refresh: tokens.refresh_token or None,
        keys.expires_at: tokens.expires_at.isoformat() if tokens.expires_at else None,
        keys.scopes: " ".join(sorted(tokens.scopes)) or None,
        keys.grant_error: None,
        keys.refresh_unanswered: None,
    }


def _lock_timeout() -> type[Exception]:
    import filelock

    return filelock.Timeout


def _answer_lost(error: ProviderError) -> bool:
    """Whether a failed token request reached the provider and its answer was lost.

    A timeout or a connection cut after sending, or a 200 whose body is unusable:
    the provider may have done the refresh. Not: a connection never made, nor an
    answer that says no (an HTTP error status, a 429).
    """
    if isinstance(error, ProviderUnavailable):
        return error.detail.startswith(("connection failed", "response cut off"))
    if isinstance(error, ProviderResponseError):
        return error.status in (None, 200)
    return False


def spent_reason(provider: str, unanswered: datetime) -> str:
    """Why a grant died after a refresh that got no answer (a sentence fragment)."""
    from wellpipe.core.errors import UnknownProviderError
    from wellpipe.providers import get_provider_info

    try:
        display = get_provider_info(provider).display_name
    except UnknownProviderError:
        display = provider
    when = unanswered.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    return (
        f"the refresh token was spent by a refresh at {when} whose answer never arrived: "
        f"{display} replaces the refresh token at every refresh, so the stored one no longer works"
    )


def _file_lock(paths: LocalPaths) -> filelock.BaseFileLock:
    import filelock  # only to write tokens: a server with fresh ones never loads it

    return filelock.FileLock(
        paths.lock_file, mode=FILE_MODE, thread_local=False, preserve_lock_file=True
    )


def store_tokens(
    paths: LocalPaths,
    tokens: TokenSet,
    *,
    provider: str = "whoop",
    granted_at: datetime | None = None,
) -> None:
    """Store a freshly authorized token set (``wellpipe auth``), replacing any previous one.

    Takes the same file lock as refreshes, writes every token key in one atomic
    rewrite and clears a dead-grant mark. A token set without a refresh token
    removes the stored one: it belonged to the previous grant.

    Args:
        paths: The CLI's files.
        tokens: What the token endpoint returned.
        provider: The provider's name (the key prefix).
        granted_at: When the grant was made (now by default); `wellpipe doctor`
            uses its age for refresh tokens that expire (Google's Testing mode).
    """
    paths.ensure_home()
    keys = TokenKeys.for_provider(provider)
    when = granted_at or datetime.now(UTC)
    with _file_lock(paths).acquire(timeout=60.0):
        EnvFile(paths.env_file).update(
            {**_token_changes(keys, tokens), keys.granted_at: when.isoformat()}
        )


class EnvTokenProvider:
    """A `TokenProvider` over the ``.env`` in the Wellpipe home folder.

    Args:
        paths: The CLI's files.
        provider: The provider's name; its upper-case form prefixes the keys.
        clock: Time, for expiry checks.
        environ: The process environment (``os.environ`` when ``None``); its
            token keys seed a file that holds no tokens yet.
        lock_timeout_s: How long to wait for another process's refresh, well
            above the token endpoint's worst latency (R-1.16).
    """

    def __init__(
        self,
        paths: LocalPaths,
        *,
        provider: str = "whoop",
        clock: Clock,
        environ: Mapping[str, str] | None = None,
        lock_timeout_s: float = 60.0,
    ) -> None:
        self.paths = paths
        self.provider = provider
        self.keys = TokenKeys.for_provider(provider)
        self._file = EnvFile(paths.env_file)
        self._clock = clock
        env = os.environ if environ is None else environ
        self._seed = {key: env[key].strip() for key in self.keys.token_keys if env.get(key)}
        self._lock_timeout_s = lock_timeout_s
        self._task_lock = anyio.Lock()
        self._lock_file: filelock.BaseFileLock | None = None  # made on first refresh
        self._cache_key: tuple[int, int, int] | None = None
        self._cache: dict[str, str] = {}
        self._handed_out = False
        """Whether the refresh token was handed out under the current refresh lock."""
        self._settled = False
        """Whether the current refresh lock stored an outcome (new tokens, a dead grant)."""

    # ------------------------------------------------------------------ reading
    def _file_values(self, *, fresh: bool = False) -> dict[str, str]:
        """The file's assignments, re-read only when the file changed (or ``fresh``)."""
        try:
            stat = os.stat(self.paths.env_file)
        except FileNotFoundError:
            self._cache_key, self._cache = None, {}
            return {}
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if fresh or key != self._cache_key:
            # Read first, then remember the identity seen before reading: if the file
            # is replaced in between, the next call sees a new identity and reads again.
            self._cache = self._file.read()
            self._cache_key = key
        return self._cache

    def _stored(self, *, fresh: bool = False) -> dict[str, str]:
        """The token keys in effect: the file's if it holds tokens, else the environment's."""
        values = self._file_values(fresh=fresh)
        keys = self.keys
        if values.get(keys.access) or values.get(keys.refresh):
            stored = {key: values[key] for key in keys.token_keys if values.get(key)}
        else:
            stored = dict(self._seed)
        if values.get(keys.grant_error):
            stored[keys.grant_error] = values[keys.grant_error]
        return stored

    @property
    def reauthorization_reason(self) -> str | None:
        """Why the grant was marked dead (read from the file), or ``None`` if it is not."""
        return self._stored().get(self.keys.grant_error)

    @property
    def has_tokens(self) -> bool:
        """Whether an access or refresh token is stored (read without awaiting)."""
        stored = self._stored()
        return bool(stored.get(self.keys.access) or stored.get(self.keys.refresh))

    @property
    def refresh_unanswered_at(self) -> datetime | None:
        """When a refresh got no usable answer, if the stored refresh token may be spent."""
        value = self._file_values().get(self.keys.refresh_unanswered)
        return _parse_expiry(value, key=self.keys.refresh_unanswered)

    @property
    def granted_at(self) -> datetime | None:
        """When ``wellpipe auth`` stored the grant (``None`` if unknown)."""
        value = self._file_values().get(self.keys.granted_at)
        return _parse_expiry(value, key=self.keys.granted_at)

    @property
    def from_environment(self) -> bool:
        """Whether the tokens in effect come from the process environment, not the file."""
        values = self._file_values()
        return bool(self._seed) and not (
            values.get(self.keys.access) or values.get(self.keys.refresh)
        )

    async def current(self) -> TokenSet | None:
        """The tokens stored now (for ``wellpipe status``), or ``None`` if there are none."""
        stored = self._stored()
        keys = self.keys
        access, refresh = stored.get(keys.access), stored.get(keys.refresh)
        if not access and not refresh:
            return None
        return TokenSet(
            access_token=access or "",
            refresh_token=refresh,
            expires_at=_parse_expiry(stored.get(keys.expires_at), key=keys.expires_at),
            scopes=frozenset(stored.get(keys.scopes, "").split()),
        )

    async def get_access_token(self) -> str | None:
        """The stored access token, or ``None``."""
        return self._stored().get(self.keys.access)

    async def dead_grant_reason(self) -> str | None:
        """The reason recorded in the ``.env`` when the grant was marked dead, or ``None``."""
        return self.reauthorization_reason

    async def get_refresh_token(self) -> str | None:
        """The stored refresh token, or ``None`` if there is none or the grant is dead."""
        stored = self._stored()
        if stored.get(self.keys.grant_error):
            return None
        if id(self) in _held.get():
            self._handed_out = True  # under the refresh lock: a refresh is about to be sent
        return stored.get(self.keys.refresh)

    async def is_expired(self, margin: timedelta = timedelta(0)) -> bool:
        """Whether the access token expires within ``margin``; an unknown expiry counts as valid."""
        expires_at = _parse_expiry(
            self._stored().get(self.keys.expires_at), key=self.keys.expires_at
        )
        if expires_at is None:
            return False
        return self._clock.now() + margin >= expires_at

    # ------------------------------------------------------------------ writing
    async def update_tokens(
        self,
        access_token: str,
        refresh_token: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Write a new pair in one atomic rewrite; without a refresh token the stored one stays.

        The granted scopes stay as stored, and a dead-grant mark is cleared.
        """
        async with self._locked():
            stored = self._stored(fresh=True)
            keys = self.keys
            changes: dict[str, str | None] = {
                keys.access: access_token,
                keys.refresh: refresh_token or stored.get(keys.refresh),
                keys.expires_at: expires_at.isoformat() if expires_at else None,
                keys.scopes: stored.get(keys.scopes),
                keys.grant_error: None,
                keys.refresh_unanswered: None,
            }
            self._write(changes)
            self._settled = True
        logger.debug("%s tokens written to %s", self.provider, self.paths.env_file)

    async def mark_reauthorization_required(self, reason: str) -> None:
        """Record that the grant is dead; the tokens stay in the file for the record.

        After a refresh that got no answer, at a provider whose refresh tokens
        rotate, the reason recorded is that the refresh token was spent then.
        """
        async with self._locked():
            unanswered = self.refresh_unanswered_at
            if unanswered is not None and self._rotates():
                reason = spent_reason(self.provider, unanswered)
            self._write({self.keys.grant_error: reason, self.keys.refresh_unanswered: None})
            self._settled = True

    def _rotates(self) -> bool:
        from wellpipe.core.errors import UnknownProviderError
        from wellpipe.providers import get_provider_info

        try:
            return get_provider_info(self.provider).rotating_refresh_tokens
        except UnknownProviderError:
            return True

    def _note_unanswered(self, error: ProviderError) -> None:
        """Remember a refresh that was sent and got no usable answer (under the lock)."""
        if not self._handed_out or self._settled or not _answer_lost(error):
            return
        if not self._rotates():
            return
        logger.warning(
            "%s refresh got no usable answer; the refresh token may be spent", self.provider
        )
        self._write({self.keys.refresh_unanswered: self._clock.now().isoformat()})

    def _write(self, changes: Mapping[str, str | None]) -> None:
        self.paths.ensure_home()
        self._file.update(changes)
        self._cache_key = None

    # ------------------------------------------------------------------ locking
    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """The refresh lock, unless this task already holds it."""
        if id(self) in _held.get():
            yield
            return
        async with self.refresh_lock():
            yield

    @asynccontextmanager
    async def refresh_lock(self) -> AsyncIterator[None]:
        """Exclusive access to the tokens: first among this process's tasks, then across processes.

        On entry the file is read afresh, so the getters see what another process wrote.

        Raises:
            ProviderUnavailable: another process held the lock for longer than the timeout.
        """
        async with self._task_lock:
            await self._acquire_file_lock()
            token = _held.set(_held.get() | {id(self)})
            self._handed_out = self._settled = False
            try:
                self._file_values(fresh=True)
                yield
            except ProviderError as error:
                self._note_unanswered(error)
                raise
            finally:
                _held.reset(token)
                self._file_lock.release()

    @property
    def _file_lock(self) -> filelock.BaseFileLock:
        if self._lock_file is None:
            self._lock_file = _file_lock(self.paths)
        return self._lock_file

    async def _acquire_file_lock(self) -> None:
        self.paths.ensure_home()
        deadline = time.monotonic() + self._lock_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            attempt = functools.partial(
                self._file_lock.acquire,
                timeout=max(0.0, min(remaining, _LOCK_SLICE_S)),
                poll_interval=_LOCK_POLL_S,
            )
            try:
                # Not abandoned on cancellation: the thread's result (a held lock) must
                # come back here, and the caller's ``finally`` releases it.
                await anyio.to_thread.run_sync(attempt)
            except _lock_timeout():
                if remaining <= _LOCK_SLICE_S:
                    raise ProviderUnavailable(
                        provider=self.provider,
                        endpoint=None,
                        detail=f"another Wellpipe process held {self.paths.lock_file} "
                        f"for over {self._lock_timeout_s:g} s",
                    ) from None
                continue
            return
