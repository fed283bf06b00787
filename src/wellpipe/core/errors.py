"""Wellpipe's single error tree.

Every error a user can meet says what happened and what to do next. The edges
(CLI, MCP tools, REST) turn these into exit codes, tool errors and status codes;
nothing below them knows about those.

The tree::

    WellpipeError
    ├── ConfigError                  settings are missing or wrong
    ├── AuthError                    the provider does not accept our credentials
    │   ├── ReauthorizationRequired  the grant is gone: the user must connect again
    │   └── ScopeNotGranted          the user did not grant a permission this read needs
    ├── ProviderError                the provider could not give us the data
    │   ├── ProviderUnavailable      timeouts, network errors, 5xx (transient)
    │   ├── ProviderRateLimited      429 or our own outbound budget (transient)
    │   ├── ProviderResponseError    a response we cannot use (malformed, 400, ...)
    │   └── NotFound                 no record with that id
    │       └── NotFoundAnywhere     none of several providers has it (or could answer)
    ├── UnsupportedDataKind          the provider does not offer that kind of data
    ├── InvalidRequest               the question cannot be answered as asked (a range)
    └── UnknownProviderError         no provider of that name is installed

Transient errors (`ProviderUnavailable`, `ProviderRateLimited`) never cost the
user a token: only `ReauthorizationRequired` follows a dead grant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = [
    "AuthError",
    "ConfigError",
    "InvalidRequest",
    "NotFound",
    "NotFoundAnywhere",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderResponseError",
    "ProviderUnavailable",
    "ReauthorizationRequired",
    "ScopeNotGranted",
    "UnknownProviderError",
    "UnsupportedDataKind",
    "WellpipeError",
    "display_name",
    "listed",
    "not_a_provider",
    "why_not",
]


class WellpipeError(Exception):
    """Root of every error Wellpipe raises on purpose.

    `str(error)` is a complete sentence for the user, ending with what to do next.
    """


class ConfigError(WellpipeError):
    """A setting is missing or invalid; the message names the setting."""


class AuthError(WellpipeError):
    """The provider rejected our credentials.

    Attributes:
        provider: The provider's name, e.g. ``"whoop"``.
    """

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(message)
        self.provider = provider


def default_reconnect_action(provider: str) -> str:
    """The next step for a self-hosted user whose grant is gone."""
    return f"run `wellpipe auth {provider}` to connect again"


class ReauthorizationRequired(AuthError):
    """The grant is gone (revoked, expired or never complete); the user must connect again.

    Attributes:
        reason: Why, in a few words (never a token).
        action: The next step; the CLI says "run `wellpipe auth whoop`", the
            cloud says "reconnect WHOOP in the dashboard".
    """

    def __init__(self, *, provider: str, reason: str, action: str | None = None) -> None:
        self.reason = reason
        self.action = action or default_reconnect_action(provider)
        display = _display_name(provider)
        super().__init__(
            f"{display} access needs to be renewed ({reason}): {self.action}.", provider=provider
        )


class ScopeNotGranted(AuthError):
    """The user did not grant (or has since withdrawn) a permission a read needs.

    Providers such as Oura let people untick permissions on the consent screen;
    the grant still works for everything else.

    Attributes:
        scope: The provider's name for the missing permission (``"heartrate"``).
        needed_for: What it is needed for, in a few words (``"heart rate data"``).
        action: The next step (connect again and leave the permission ticked).
    """

    def __init__(
        self, *, provider: str, scope: str, needed_for: str, action: str | None = None
    ) -> None:
        self.scope = scope
        self.needed_for = needed_for
        self.action = action or (
            f"run `wellpipe auth {provider}` and leave the `{scope}` permission ticked"
        )
        super().__init__(
            f"{_display_name(provider)} did not give Wellpipe the `{scope}` permission, "
            f"which {needed_for} needs: {self.action}.",
            provider=provider,
        )


class ProviderError(WellpipeError):
    """The provider could not give us the data.

    Attributes:
        provider: The provider's name.
        endpoint: The call that failed, e.g. ``"GET /developer/v2/activity/sleep"``.
    """

    def __init__(self, message: str, *, provider: str, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.endpoint = endpoint


class ProviderUnavailable(ProviderError):
    """A timeout, network failure or 5xx persisted through our retries."""

    def __init__(self, *, provider: str, endpoint: str | None, detail: str) -> None:
        super().__init__(
            f"{_display_name(provider)} is not responding ({detail}"
            f"{_on(endpoint)}); nothing was lost, try again in a few minutes.",
            provider=provider,
            endpoint=endpoint,
        )
        self.detail = detail


class ProviderRateLimited(ProviderError):
    """The provider (or our own outbound budget for it) asks us to slow down.

    Attributes:
        retry_after: Seconds until a new request may succeed.
    """

    def __init__(self, *, provider: str, endpoint: str | None, retry_after: float) -> None:
        self.retry_after = max(0.0, retry_after)
        super().__init__(
            f"{_display_name(provider)} rate limit reached{_on(endpoint)}; "
            f"try again in {_human_seconds(self.retry_after)}.",
            provider=provider,
            endpoint=endpoint,
        )


class ProviderResponseError(ProviderError):
    """The provider answered with something we cannot use.

    Attributes:
        field: The offending field as a dotted path (``records[3].score.strain``),
            or ``None`` when the whole body is unusable.
        status: The HTTP status code, when relevant.
    """

    def __init__(
        self,
        *,
        provider: str,
        endpoint: str | None,
        problem: str,
        field: str | None = None,
        status: int | None = None,
    ) -> None:
        self.field = field
        self.status = status
        self.problem = problem
        where = f" in field `{field}`" if field else ""
        super().__init__(
            f"{_display_name(provider)} sent a response Wellpipe cannot use{_on(endpoint)}: "
            f"{problem}{where}. Nothing was changed; try again later, and if it keeps "
            "happening report it at https://github.com/wellpipe/wellpipe/issues.",
            provider=provider,
            endpoint=endpoint,
        )


class NotFound(ProviderError):
    """The provider has no record with the requested id."""

    def __init__(
        self,
        *,
        provider: str,
        endpoint: str | None,
        what: str,
        action: str = "check the id and try again",
    ) -> None:
        super().__init__(
            f"{_display_name(provider)} has no {what}; {action}.",
            provider=provider,
            endpoint=endpoint,
        )


class NotFoundAnywhere(NotFound):
    """None of the providers asked has the record; the sentence names each one asked.

    A provider that could not answer (rate-limited, down, a grant to renew) is named
    as such, never as one that has no such record.

    Attributes:
        missing: The providers that answered that they have no such record, by name.
        failed: The providers that could not answer, with their errors.
        display_names: How to write each provider's name (else the built-in names).
    """

    def __init__(
        self,
        *,
        what: str,
        missing: Sequence[str],
        failed: Sequence[tuple[str, WellpipeError]] = (),
        action: str = "check the id and try again",
        display_names: Mapping[str, str] | None = None,
    ) -> None:
        self.missing = tuple(missing)
        self.failed = tuple(failed)
        self.what = what
        self.display_names = dict(display_names or {})

        def shown(name: str) -> str:
            return self.display_names.get(name) or _display_name(name)

        parts: list[str] = []
        if missing:
            names = [shown(name) for name in missing]
            if len(names) == 1:
                parts.append(f"{names[0]} has no {what}")
            elif not failed:
                article = "an" if what[:1] in set("aeiou") else "a"
                parts.append(f"None of {listed(names, 'or')} has {article} {what}")
            else:
                parts.append(f"{listed(names)} have no {what}")
        for name, error in failed:
            parts.append(f"{shown(name)} could not be asked ({why_not(error)})")
        todo = action if not failed else f"{action}, or ask again once every provider answers"
        ProviderError.__init__(
            self,
            f"{'; '.join(parts)}: {todo}.",
            provider=(missing or [name for name, _ in failed])[0],
            endpoint=None,
        )


def why_not(error: WellpipeError) -> str:
    """Why a provider could not answer, in a few words and what to do (no final stop).

    ``rate-limited; try again in 60 seconds``, ``not responding (HTTP 503); try again in a
    few minutes``, ``its access needs to be renewed: reconnect WHOOP in the dashboard``.
    """
    if isinstance(error, ProviderRateLimited):
        return f"rate-limited; try again in {_human_seconds(error.retry_after)}"
    if isinstance(error, ProviderUnavailable):
        return f"not responding ({error.detail}); try again in a few minutes"
    if isinstance(error, ReauthorizationRequired):
        return f"its access needs to be renewed: {error.action}"
    if isinstance(error, ScopeNotGranted):
        return f"the `{error.scope}` permission was not granted: {error.action}"
    if isinstance(error, ProviderResponseError):
        return f"it sent a response Wellpipe cannot use: {error.problem}"
    return str(error).rstrip(".")


class UnsupportedDataKind(WellpipeError):
    """The provider does not offer that kind of data."""

    def __init__(self, *, provider: str, kind: str, supported: list[str]) -> None:
        super().__init__(
            f"{_display_name(provider)} does not provide {kind} data; "
            f"it provides: {', '.join(sorted(supported))}."
        )
        self.provider = provider
        self.kind = kind


class InvalidRequest(WellpipeError):
    """A question that cannot be answered as asked; the sentence says what to change.

    Every face shows it in its own words of refusal: a 422 problem over REST, a tool
    error over MCP. Nothing was read.
    """


class UnknownProviderError(WellpipeError, LookupError):
    """No provider of that name is installed."""

    def __init__(self, name: str, *, installed: list[str]) -> None:
        listed = ", ".join(sorted(installed)) or "none"
        super().__init__(f"No provider named {name!r} is installed (installed: {listed}).")
        self.name = name
        self.installed = installed


def not_a_provider(name: str, installed: Sequence[str]) -> str:
    """The sentence for a provider name Wellpipe does not have (no final stop).

    ``garmin is not a provider Wellpipe has; it reads fitbit, oura, whoop``.
    """
    shown = name if re.fullmatch(r"[\w.-]{1,32}", name) else repr(name[:32])
    listed = ", ".join(sorted(installed)) or "none"
    return f"{shown} is not a provider Wellpipe has; it reads {listed}"


_DISPLAY_NAMES = {"whoop": "WHOOP", "oura": "Oura", "fitbit": "Fitbit (Google Health)"}


def display_name(provider: str) -> str:
    """How people write a built-in provider's name (``WHOOP``); others as they are."""
    return _DISPLAY_NAMES.get(provider, provider)


_display_name = display_name


def listed(names: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (``or`` as asked); nothing for no names."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _on(endpoint: str | None) -> str:
    return f" on {endpoint}" if endpoint else ""


def _human_seconds(seconds: float) -> str:
    whole = max(1, round(seconds))
    if whole < 90:
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = round(whole / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"
