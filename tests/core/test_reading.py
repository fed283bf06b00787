"""The reader: several providers at once (each with a rate-limit patience), the days without
a row, and one record looked up everywhere."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fakes import FakeClock
from wellpipe.core.errors import NotFound, NotFoundAnywhere, ProviderRateLimited, WellpipeError
from wellpipe.core.models import (
    BodyMeasurement,
    DailyActivity,
    DataKind,
    Profile,
    Record,
    RecordSet,
    TimeWindow,
)
from wellpipe.core.patience import MULTI_PROVIDER_PATIENCE_S, current_patience
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.core.reading import Reader, gap_note

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)


def info(name: str, display: str) -> ProviderInfo:
    return ProviderInfo(
        name=name,
        display_name=display,
        kinds=frozenset({DataKind.ACTIVITY}),
        scopes=("activity",),
        token_auth_method="client_secret_post",
    )


class Steps:
    """A provider of daily activity on ``days``; it notes the patience it was read with."""

    def __init__(
        self, name: str, display: str, days: Collection[date], fails: WellpipeError | None = None
    ) -> None:
        self._info = info(name, display)
        self.days = days
        self.fails = fails
        self.patience: list[float | None] = []

    @property
    def info(self) -> ProviderInfo:
        return self._info

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        found = current_patience()
        self.patience.append(None if found is None else found.left)
        if self.fails is not None:
            raise self.fails
        return RecordSet(
            activities=tuple(
                DailyActivity(provider=self._info.name, source_id=str(d), day=d, steps=100)
                for d in self.days
            )
        )

    async def record(self, kind: DataKind, source_id: str) -> Record:
        if self.fails is not None:
            raise self.fails
        raise NotFound(provider=self._info.name, endpoint=None, what=f"{kind} {source_id!r}")

    async def profile(self) -> Profile:
        raise NotImplementedError

    async def body_measurement(self) -> BodyMeasurement:
        raise NotImplementedError


WEEK = [date(2026, 11, 15) + timedelta(days=i) for i in range(7)]


async def test_each_of_several_providers_is_read_with_a_patience_and_one_alone_without() -> None:
    one, two = Steps("aa", "AA", WEEK), Steps("bb", "BB", WEEK)
    clock = FakeClock(NOW)
    await Reader([one, two], clock=clock).recent("activity", 7)
    assert one.patience == two.patience == [MULTI_PROVIDER_PATIENCE_S]
    await Reader([one], clock=clock).recent("activity", 7)
    assert one.patience[-1] is None
    assert current_patience() is None  # nothing leaks out of the read


async def test_days_without_a_row_are_one_note_past_today_and_still_to_come() -> None:
    gappy = Steps("aa", "AA", [d for d in WEEK if d not in {WEEK[2], WEEK[3], WEEK[-1]}])
    full = Steps("bb", "BB", WEEK)
    reading = await Reader([gappy, full], clock=FakeClock(NOW)).between(
        "activity", WEEK[0], WEEK[-1] + timedelta(days=1)
    )
    note = (
        "No activity from AA on 2026-11-17 to 2026-11-18 (no data from the device those days) "
        "or 2026-11-21 (today: not scored or synced yet) or 2026-11-22 (still to come); "
        "from BB on 2026-11-22 (still to come)."
    )
    assert gap_note(reading) == note
    assert reading.notes[-1] == note


async def test_a_record_nobody_has_names_each_provider_asked_and_why() -> None:
    limited = ProviderRateLimited(provider="cc", endpoint=None, retry_after=30)
    providers = [Steps("aa", "AA", WEEK), Steps("bb", "BB", WEEK), Steps("cc", "CC", [], limited)]
    with pytest.raises(NotFoundAnywhere) as missing:
        await Reader(providers, clock=FakeClock(NOW)).record(DataKind.ACTIVITY, " x1 ")
    assert str(missing.value) == (
        "AA and BB have no activity with id 'x1'; CC could not be asked (rate-limited; try "
        "again in 30 seconds): check the id and try again, or ask again once every provider "
        "answers."
    )
    assert missing.value.missing == ("aa", "bb")
    with pytest.raises(NotFoundAnywhere, match=r"^None of AA or BB has an activity with id 'x1'"):
        await Reader(providers[:2], clock=FakeClock(NOW)).record(DataKind.ACTIVITY, "x1")
    # One provider asked: its own sentence; every provider failed otherwise: the first error.
    with pytest.raises(NotFound, match=r"^aa has no"):
        await Reader(providers[:1], clock=FakeClock(NOW)).record(DataKind.ACTIVITY, "x1")
    with pytest.raises(ProviderRateLimited):
        await Reader([providers[2], providers[2]], clock=FakeClock(NOW)).record(
            DataKind.ACTIVITY, "x1"
        )
