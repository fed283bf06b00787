"""The generated Fitbit history is pinned byte for byte: speed-ups must not change a value.

The digests were taken from the generator before it was made lazy and faster; a change
to them means the synthetic data changed, which every recorded expectation downstream
(contract tests, demo answers) would silently follow. Change them only on purpose
(the first member's changed when it became the demo's one person, `wellpipe.sandbox.person`;
the second member's did not).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from tests.conftest import NOW
from wellpipe.sandbox.fitbit import DEFAULT_MEMBERS, History, MemberHistory, generate_history
from wellpipe.sandbox.fitbit.history import Point

PINNED = {
    # seed 42, 400 days, tests.conftest.NOW (the shared session history)
    DEFAULT_MEMBERS[0].health_user_id: (
        "c0414c0b9960cc36a138aade99c2a30c2d6bc6fe36dc2904e5f6f7ca71025f66"
    ),
    DEFAULT_MEMBERS[1].health_user_id: (
        "b13e2f713270efa71795e94d6a6d88467db67ff3fd7d1e1edb342f2b11c58499"
    ),
}
PINNED_SMALL = "9ee24b9a615831d91a7c4f16743d19f039bbea74ea8128fb3640a98100f00029"
"""Seed 7, 120 days, one member, ``now`` two hours after ``NOW`` (another configuration)."""


def _point(point: Point) -> list[object]:
    return [
        point.start.isoformat(),
        point.end.isoformat() if point.end else None,
        point.civil_start.isoformat(),
        point.civil_end.isoformat() if point.civil_end else None,
        point.start_offset,
        point.end_offset,
        point.source,
        point.point_id,
        point.value,  # key order matters too: responses are serialised in this order
    ]


def fingerprint(member: MemberHistory) -> str:
    """sha256 of everything a member serves, in order (incl. a day of heart rate)."""
    digest = hashlib.sha256()

    def feed(label: str, value: object) -> None:
        digest.update(label.encode())
        digest.update(json.dumps(value, separators=(",", ":")).encode())

    feed("spec", [member.user_id, member.seed, member.now.isoformat()])
    feed("first_day", member.first_day.isoformat())
    feed("sources", member.sources)
    for kind in sorted(member.points):
        feed(f"points/{kind}", [_point(p) for p in member.points[kind]])
    for kind in sorted(member.reconciled):
        feed(f"reconciled/{kind}", [_point(p) for p in member.reconciled[kind]])
    for kind in sorted(member.by_id):
        feed(f"by_id/{kind}", [[key, _point(p)] for key, p in member.by_id[kind].items()])
    feed(
        "blocks",
        [[b.start.isoformat(), b.end.isoformat(), b.kind, b.bpm] for b in member.blocks],
    )
    feed("unworn", [[a.isoformat(), b.isoformat()] for a, b in member.unworn])
    feed("zones", [[a.isoformat(), zone] for a, zone in member.zone_changes])
    feed("rhr", [[day.isoformat(), bpm] for day, bpm in member.daily_rhr.items()])
    end = member.now
    feed("hr", [_point(p) for p in member.heart_rate_minutes(end - timedelta(days=1), end)])
    return digest.hexdigest()


@pytest.mark.parametrize("user_id", list(PINNED), ids=["panama", "kolkata"])
def test_each_default_member_is_generated_byte_for_byte_as_pinned(
    fitbit_history: History, user_id: str
) -> None:
    assert fingerprint(fitbit_history.members[user_id]) == PINNED[user_id]


def test_another_seed_length_and_moment_are_pinned_too() -> None:
    history = generate_history(now=NOW + timedelta(hours=2), seed=7, days=120, members=1)
    (member,) = history.members.values()
    assert fingerprint(member) == PINNED_SMALL
