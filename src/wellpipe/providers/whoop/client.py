"""Async client for every member-data endpoint of WHOOP's API v2. Returns wire models.

Collections follow ``next_token`` to the end, 25 records a page, keeping the
same ``start`` and ``end`` on every page (WHOOP: ``start`` inclusive, ``end``
exclusive). Every request is throttled to the app's budget, retried on 429 and
5xx, and authenticated with a bearer token that refreshes itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx2
from pydantic import BaseModel

from wellpipe.core.ports import Clock
from wellpipe.net import Reply, RequestBudget, RetryPolicy, parse_reply
from wellpipe.net.throttle import reserve_together
from wellpipe.providers.api import ApiRequests, PageTokens, raise_for_status
from wellpipe.providers.whoop import schemas as wire

__all__ = ["MAX_PAGE_SIZE", "WhoopClient", "format_instant"]

MAX_PAGE_SIZE = 25
"""WHOOP's largest ``limit``; asking for more is a 400."""

_API = "/developer/v2"
_PROVIDER = "whoop"

ModelT = TypeVar("ModelT", bound=BaseModel)
RecordT = TypeVar("RecordT", bound=BaseModel)

_COLLECTIONS: dict[str, tuple[str, type[wire.Page[Any]]]] = {
    "cycle": ("/cycle", wire.PaginatedCycleResponse),
    "recovery": ("/recovery", wire.RecoveryCollection),
    "sleep": ("/activity/sleep", wire.PaginatedSleepResponse),
    "workout": ("/activity/workout", wire.WorkoutCollection),
}
"""Each collection's path and page model, by name."""


def format_instant(instant: datetime) -> str:
    """An aware instant as WHOOP writes them: UTC, milliseconds, ``Z``."""
    if instant.tzinfo is None:
        raise ValueError("WHOOP query times must be timezone-aware")
    text = instant.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class WhoopClient:
    """Reads one WHOOP member's data.

    Construct it with an `httpx2.AsyncClient` whose ``base_url`` is the WHOOP
    origin (see `WhoopSettings`), and an auth that adds the member's bearer
    token (normally `RefreshingAuth`).
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        auth: httpx2.Auth,
        clock: Clock,
        throttle: RequestBudget | None = None,
        retry: RetryPolicy = RetryPolicy(),
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = 2_000,
        reconnect_action: str | None = None,
    ) -> None:
        """Create a client.

        Args:
            http: Client pointed at the WHOOP origin.
            auth: Adds (and refreshes) the bearer token.
            clock: Time source.
            throttle: The WHOOP app's request budget, shared by every client of the app.
            retry: Retry policy for 429, 5xx and network failures.
            page_size: Records per page, 1 to 25.
            max_pages: Safety stop for one collection read.
            reconnect_action: What to tell a user whose token WHOOP refuses.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self._api = ApiRequests(http, _PROVIDER, clock, retry, throttle, auth)
        self._page_size = page_size
        self._max_pages = max_pages
        self._reconnect_action = reconnect_action

    async def reserve(self, requests: int) -> None:
        """Count the first ``requests`` requests of reads about to run together, all or none.

        Where the app's budget is shared (`wellpipe.net.throttle.BatchBudget`), a read of
        several collections then either gets all its first pages or is refused before
        sending anything; elsewhere requests are counted as they go.

        Raises:
            ProviderRateLimited: no room for all of them.
        """
        await reserve_together(self._api.throttle, requests)

    # ------------------------------------------------------------ cycles
    def cycles(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[wire.Cycle]:
        """Every cycle overlapping ``[start, end)``, newest first (``getCycleCollection``)."""
        return self._collect("/cycle", wire.PaginatedCycleResponse, start, end)

    async def get_cycle(self, cycle_id: int) -> wire.Cycle:
        """One cycle by id (``getCycleById``)."""
        return await self._one(
            f"/cycle/{cycle_id}", "/cycle/{cycleId}", wire.Cycle, f"cycle {cycle_id}"
        )

    async def get_sleep_for_cycle(self, cycle_id: int) -> wire.Sleep:
        """The sleep that belongs to a cycle (``getSleepForCycle``)."""
        return await self._one(
            f"/cycle/{cycle_id}/sleep",
            "/cycle/{cycleId}/sleep",
            wire.Sleep,
            f"sleep for cycle {cycle_id}",
        )

    async def get_recovery_for_cycle(self, cycle_id: int) -> wire.Recovery:
        """The recovery of a cycle (``getRecoveryForCycle``)."""
        return await self._one(
            f"/cycle/{cycle_id}/recovery",
            "/cycle/{cycleId}/recovery",
            wire.Recovery,
            f"recovery for cycle {cycle_id}",
        )

    # ------------------------------------------------------------ recovery
    def recoveries(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[wire.Recovery]:
        """Every recovery in ``[start, end)``, newest sleep first (``getRecoveryCollection``)."""
        return self._collect("/recovery", wire.RecoveryCollection, start, end)

    # ------------------------------------------------------------ sleep
    def sleeps(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[wire.Sleep]:
        """Sleeps and naps overlapping ``[start, end)``, newest first (``getSleepCollection``)."""
        return self._collect("/activity/sleep", wire.PaginatedSleepResponse, start, end)

    async def get_sleep(self, sleep_id: UUID) -> wire.Sleep:
        """One sleep by id (``getSleepById``)."""
        return await self._one(
            f"/activity/sleep/{sleep_id}",
            "/activity/sleep/{sleepId}",
            wire.Sleep,
            f"sleep {sleep_id}",
        )

    # ------------------------------------------------------------ workout
    def workouts(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[wire.WorkoutV2]:
        """Every workout overlapping ``[start, end)``, newest first (``getWorkoutCollection``)."""
        return self._collect("/activity/workout", wire.WorkoutCollection, start, end)

    async def get_workout(self, workout_id: UUID) -> wire.WorkoutV2:
        """One workout by id (``getWorkoutById``)."""
        return await self._one(
            f"/activity/workout/{workout_id}",
            "/activity/workout/{workoutId}",
            wire.WorkoutV2,
            f"workout {workout_id}",
        )

    # ------------------------------------------------------------ user
    async def get_profile(self) -> wire.UserBasicProfile:
        """The member's name and email (``getProfileBasic``)."""
        return await self._one(
            "/user/profile/basic", "/user/profile/basic", wire.UserBasicProfile, "profile"
        )

    async def get_body_measurement(self) -> wire.UserBodyMeasurement:
        """The member's height, weight and max heart rate (``getBodyMeasurement``)."""
        return await self._one(
            "/user/measurement/body",
            "/user/measurement/body",
            wire.UserBodyMeasurement,
            "body measurement",
        )

    async def revoke_access(self) -> None:
        """Revoke this app's access to the member's data (``revokeUserOAuthAccess``).

        Afterwards every token of the grant is dead and WHOOP stops sending
        webhooks for this member.
        """
        reply = await self._request("DELETE", "/user/access", "/user/access", None)
        if reply.status_code != 204:
            self._raise_for_status(reply, "access grant")

    # ------------------------------------------------------------ one page
    async def page(
        self,
        collection: str,
        *,
        start: datetime | None,
        end: datetime | None,
        next_token: str | None = None,
    ) -> tuple[list[BaseModel], str | None]:
        """One page of a collection (``cycle``, ``recovery``, ``sleep`` or ``workout``).

        For a sync that stores each page before it reads the next: the records (wire
        models of the collection) and the token of the next page (``None``: the last).
        Pass the same ``start`` and ``end`` with every token.
        """
        path, page_model = _COLLECTIONS[collection]
        records, token, _ = await self._page(path, page_model, start, end, next_token)
        return list(records), token

    # ------------------------------------------------------------ plumbing
    async def _page(
        self,
        path: str,
        page_model: type[wire.Page[RecordT]],
        start: datetime | None,
        end: datetime | None,
        token: str | None,
    ) -> tuple[list[RecordT], str | None, str]:
        params: dict[str, str | int] = {"limit": self._page_size}
        if start is not None:
            params["start"] = format_instant(start)
        if end is not None:
            params["end"] = format_instant(end)
        if token is not None:
            params["nextToken"] = token
        reply = await self._request("GET", path, path, params)
        page = self._parse(reply, page_model, what=f"{path.rsplit('/', 1)[-1]} collection")
        return list(page.records), page.next_token or None, reply.endpoint

    async def _collect(
        self,
        path: str,
        page_model: type[wire.Page[RecordT]],
        start: datetime | None,
        end: datetime | None,
    ) -> AsyncIterator[RecordT]:
        guard = PageTokens(provider=_PROVIDER, field="next_token", max_pages=self._max_pages)
        token: str | None = None
        for _ in guard.pages():
            records, token, endpoint = await self._page(path, page_model, start, end, token)
            for record in records:
                yield record
            if token is None:
                return
            guard.check(token, endpoint)
        raise guard.endless(f"GET {_API}{path}")

    async def _one(self, path: str, template: str, model: type[ModelT], what: str) -> ModelT:
        reply = await self._request("GET", path, template, None)
        return self._parse(reply, model, what=what)

    async def _request(
        self, method: str, path: str, template: str, params: dict[str, str | int] | None
    ) -> Reply:
        return await self._api.send(
            method,
            f"{_API}{path}",
            endpoint=f"{method} {_API}{template}",
            params=params,
            idempotent=method == "GET",
        )

    def _parse(self, reply: Reply, model: type[ModelT], *, what: str) -> ModelT:
        if reply.status_code != 200:
            self._raise_for_status(reply, what)
        return parse_reply(model, reply, provider=_PROVIDER)

    def _raise_for_status(self, reply: Reply, what: str) -> None:
        raise_for_status(
            reply,
            provider=_PROVIDER,
            display_name="WHOOP",
            what=what,
            reconnect_action=self._reconnect_action,
        )
