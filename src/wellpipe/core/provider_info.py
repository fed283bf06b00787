"""Facts about a provider, as data: tools, CLI and cloud read them instead of branching on names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from wellpipe.core.models.common import DataKind

__all__ = ["ProviderInfo", "RateLimit", "readable_scope"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests in any ``seconds``-long window."""

    requests: int
    seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError("a rate limit needs at least one request and a positive window")


@dataclass(frozen=True)
class ProviderInfo:
    """What Wellpipe knows about one provider.

    Attributes:
        name: Short lowercase identifier (``"whoop"``), used in commands and URLs.
        display_name: How people write it (``"WHOOP"``).
        kinds: The kinds of data it offers.
        scopes: OAuth scopes Wellpipe requests, spelled exactly as the provider does.
        scope_labels: For each requested scope, a short name people read on the
            dashboard and in the CLI (``("read:recovery", "Recovery")``). Either
            every requested scope has one or none does (`scope_label` then falls
            back to a readable form of the scope).
        token_auth_method: How the client authenticates at the token endpoint.
        rate_limits: The provider's published limits for one developer app.
        developer_portal: Where a user creates their developer app.
        pkce: Whether authorization requests carry a PKCE (S256) challenge.
        authorize_params: Extra query parameters of the authorization URL
            (Google: ``access_type=offline``, ``prompt=consent``).
        rotating_refresh_tokens: Whether each refresh spends the refresh token
            and returns a new one (WHOOP, Oura) or keeps it valid (Google).
        kind_scopes: For each kind, the scopes a read of it needs (any one of
            them is enough); kinds not listed need no particular scope.
        setup_notes: Sentences shown while setting up the developer app.
        connect_notes: Sentences shown after an account is connected.
        refresh_token_days: Refresh tokens may die after this many days in some
            app configurations (Google's "Testing" clients: 7); ``None`` if no
            such limit is known.
        refresh_token_hint: What to do when that happens (a sentence fragment).
        unmeasured: For each kind it offers, the fields of that kind's core record (or
            of its score) the provider never fills (Google gives no sleep efficiency,
            Oura no sleep performance). Tables leave out a column no provider they
            show can fill, and leave it empty on the rows of one that cannot.
    """

    name: str
    display_name: str
    kinds: frozenset[DataKind]
    scopes: tuple[str, ...]
    token_auth_method: Literal["client_secret_post", "client_secret_basic"]
    rate_limits: tuple[RateLimit, ...] = field(default=())
    developer_portal: str = ""
    pkce: bool = False
    authorize_params: tuple[tuple[str, str], ...] = ()
    rotating_refresh_tokens: bool = True
    kind_scopes: tuple[tuple[DataKind, tuple[str, ...]], ...] = ()
    setup_notes: tuple[str, ...] = ()
    connect_notes: tuple[str, ...] = ()
    refresh_token_days: int | None = None
    refresh_token_hint: str = ""
    scope_labels: tuple[tuple[str, str], ...] = ()
    unmeasured: tuple[tuple[DataKind, tuple[str, ...]], ...] = ()

    def measures(self, kind: DataKind, field: str) -> bool:
        """Whether the provider offers ``kind`` and fills its ``field`` (when measured at all)."""
        if kind not in self.kinds:
            return False
        return not any(k is kind and field in fields for k, fields in self.unmeasured)

    def scopes_for(self, kind: DataKind) -> tuple[str, ...]:
        """The scopes a read of ``kind`` needs (any one is enough); empty when none."""
        return next((scopes for k, scopes in self.kind_scopes if k is kind), ())

    def scope_label(self, scope: str) -> str:
        """How people read ``scope``: its label, or a short readable form of an unknown scope.

        An unknown scope (one a provider granted without being asked, or a provider
        without labels) loses its URL, its ``read:`` prefix and its ``.readonly``
        suffix: ``https://www.googleapis.com/auth/googlehealth.nutrition.readonly``
        reads "Nutrition".
        """
        return next((label for s, label in self.scope_labels if s == scope), None) or (
            readable_scope(scope)
        )

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"provider name {self.name!r} must be a short lowercase identifier")
        if not self.kinds:
            raise ValueError(f"provider {self.name!r} must offer at least one kind of data")
        if len(set(self.scopes)) != len(self.scopes):
            raise ValueError(f"provider {self.name!r} lists a scope twice")
        labelled = [scope for scope, _ in self.scope_labels]
        if len(set(labelled)) != len(labelled):
            raise ValueError(f"provider {self.name!r} labels a scope twice")
        if self.scope_labels and set(labelled) != set(self.scopes):
            raise ValueError(
                f"provider {self.name!r} must label exactly the scopes it requests "
                f"(unlabelled: {sorted(set(self.scopes) - set(labelled))}, "
                f"not requested: {sorted(set(labelled) - set(self.scopes))})"
            )
        if any(not label.strip() for _, label in self.scope_labels):
            raise ValueError(f"provider {self.name!r} has an empty scope label")
        unmeasured = [kind for kind, _ in self.unmeasured]
        if len(set(unmeasured)) != len(unmeasured) or not set(unmeasured) <= self.kinds:
            raise ValueError(
                f"provider {self.name!r} must list unmeasured fields once per kind it offers"
            )


_MAX_FALLBACK = 32


def readable_scope(scope: str) -> str:
    """A short readable form of a scope nobody labelled.

    ``"read:body_measurement"`` reads "Body measurement". Keeps the last part of
    a URL, drops a ``read:`` style prefix and a ``.readonly``/``.read`` suffix,
    keeps the last dotted word, splits ``snake_case``, ``kebab-case`` and
    ``camelCase``, and caps the length.
    """
    text = scope.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    text = re.sub(r"\.(readonly|read|write)$", "", text).rsplit(".", 1)[-1]
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    text = " ".join(re.split(r"[_\-\s]+", text)).strip().lower()
    if not text:
        return scope[:_MAX_FALLBACK] or "?"
    text = text[0].upper() + text[1:]
    return text if len(text) <= _MAX_FALLBACK else text[: _MAX_FALLBACK - 1] + "…"
