"""``wellpipe demo``: start the WHOOP sandbox, connect to it like a real user, show recent sleep.

Everything on the way is the real thing: the OAuth authorization-code flow,
the WHOOP client with its throttle and retries, the mapping to core records.
Only WHOOP itself is replaced, by the sandbox on a loopback port.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

from wellpipe.core import DataKind, DayRange, MemoryTokenProvider, Profile, Sleep, SystemClock
from wellpipe.core.errors import AuthError
from wellpipe.core.models import TimeWindow
from wellpipe.net import build_http_client
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.whoop import WhoopSettings, open_whoop, whoop_oauth_client
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background

__all__ = ["DemoResult", "render_sleep", "run_demo"]

DEMO_CREDENTIALS = ClientCredentials(
    client_id="wellpipe-demo",
    client_secret="wellpipe-demo-secret",
    redirect_uri="http://127.0.0.1:8976/callback",
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo read."""

    profile: Profile
    days: DayRange
    sleeps: list[Sleep]
    origin: str
    requests: int
    seconds: float


async def run_demo(*, days: int, seed: int) -> DemoResult:
    """Serve a sandbox on loopback, authorize against it, and read the last ``days`` of sleep."""
    clock = SystemClock()
    sandbox = WhoopSandbox(seed=seed, clock=clock)
    async with serve_in_background(sandbox) as origin:
        began = time.perf_counter()
        settings = WhoopSettings.for_origin(origin)
        async with build_http_client(base_url=origin) as http:
            oauth = whoop_oauth_client(
                settings=settings, credentials=DEMO_CREDENTIALS, http=http, clock=clock
            )
            # What a browser does: open the consent page, follow the redirect with the code.
            state = oauth.new_state()
            consent = await http.get(oauth.authorization_url(state))
            answer = parse_qs(urlsplit(consent.headers.get("location", "")).query)
            if answer.get("state") != [state] or "code" not in answer:
                raise AuthError("The sandbox did not approve the demo login.", provider="whoop")
            tokens = await oauth.exchange_code(answer["code"][0])
        store = MemoryTokenProvider(tokens, clock=clock)
        async with open_whoop(
            credentials=DEMO_CREDENTIALS, tokens=store, settings=settings, clock=clock
        ) as whoop:
            profile = await whoop.profile()
            now = clock.now()
            window = TimeWindow(start=now - timedelta(days=days + 2), end=now)
            records = await whoop.read({DataKind.SLEEP}, window)
        local_tz = records.sleeps[0].end.tzinfo if records.sleeps else None
        day_range = DayRange.last_days(days, now=now, tz=local_tz)
        sleeps = sorted(
            (s for s in records.sleeps if day_range.includes(s.day)), key=lambda s: s.start
        )
        return DemoResult(
            profile=profile,
            days=day_range,
            sleeps=sleeps,
            origin=origin,
            requests=len(sandbox.requests),
            seconds=time.perf_counter() - began,
        )


def _hm(minutes: float) -> str:
    whole = round(minutes)
    return f"{whole // 60}h{whole % 60:02d}" if whole >= 60 else f"{whole}m"


def _bar(minutes: float, *, full_minutes: float = 600, width: int = 10) -> Text:
    eighths = min(width * 8, max(0, round(minutes / full_minutes * width * 8)))
    blocks = "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
    hours = minutes / 60
    style = "green" if hours >= 7 else "yellow" if hours >= 6 else "red"
    return Text(blocks.ljust(width), style=style)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def render_sleep(result: DemoResult, console: Console) -> None:
    """Print the demo's sleep table, one bar per night."""
    name = f"{result.profile.first_name} {result.profile.last_name}"
    table = Table(
        title=f"{name}: sleep, last {result.days.count} days (WHOOP sandbox, synthetic data)",
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    table.add_column("Day", no_wrap=True)
    table.add_column("Bed → wake", no_wrap=True)
    table.add_column("Asleep", no_wrap=True)
    for column in ("Deep", "REM", "Perf.", "Eff."):
        table.add_column(column, justify="right", no_wrap=True)
    today = result.days.last
    for day in result.days.days():
        label = day.strftime("%a %d %b")
        sleeps = [s for s in result.sleeps if s.day == day]
        if not sleeps:
            note = "nothing yet today" if day == today else "no sleep recorded"
            table.add_row(label, Text(note, style="dim"))
        for sleep in sleeps:
            span = f"{sleep.start:%H:%M} → {sleep.end:%H:%M}" + (" nap" if sleep.nap else "")
            score = sleep.score
            if score is None:
                state = "being scored" if sleep.score_state == "pending" else "not scorable"
                table.add_row(label, span, Text(state, style="dim"))
            else:
                asleep = _bar(score.asleep_duration_min)
                asleep.append(f" {_hm(score.asleep_duration_min)}")
                table.add_row(
                    label,
                    span,
                    asleep,
                    _hm(score.deep_sleep_duration_min),
                    _hm(score.rem_sleep_duration_min),
                    _pct(score.sleep_performance_pct),
                    _pct(score.sleep_efficiency_pct),
                )
            label = ""
    console.print(table)
