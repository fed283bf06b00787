"""How big the cloud's REST answers are, compact (the default) and full, for three providers.

A GPT Action or a model's context pays for every byte, so the default answer carries what
the MCP tool's table carries: rounded numbers, local times, no empty fields, no stage
timelines (``detail=full`` keeps every field). The app runs in process with the WHOOP,
Oura and Fitbit sandboxes (two months of history and more), one user connected to all
three, and each question is asked once per detail. Targets: 7-day summary <= 8 KB, 90-day
summary <= 100 KB.

    python bench/rest_sizes.py
"""

from __future__ import annotations

import os
import secrets
import tempfile
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import anyio
import httpx2
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

PUBLIC_URL = "http://wellpipe.bench"
ORIGINS = {
    "whoop": "http://whoop.bench",
    "oura": "http://oura.bench",
    "fitbit": "http://fitbit.bench",
}
TARGETS = {"summary, 7 days": 8_000, "summary, 90 days": 100_000}


@dataclass(frozen=True)
class Question:
    label: str
    path: str


def questions(today: str, month_ago: str, quarter_ago: str) -> list[Question]:
    return [
        Question("summary, 7 days", "/api/v1/health?type=summary&days=7"),
        Question("summary, 90 days", f"/api/v1/summary?start={quarter_ago}&end={today}"),
        Question("sleep, 30 days", f"/api/v1/sleep?start={month_ago}&end={today}"),
        Question("workouts, 30 days", f"/api/v1/workouts?start={month_ago}&end={today}"),
        Question("vitals, 30 days", f"/api/v1/vitals?start={month_ago}&end={today}"),
        Question("profile", "/api/v1/profile"),
    ]


class _ByHost(httpx2.AsyncBaseTransport):
    def __init__(self, routes: dict[str, httpx2.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.routes[request.url.host].handle_async_request(request)


async def measure() -> list[tuple[str, int, int]]:
    from wellpipe.cloud.app import create_app
    from wellpipe.cloud.services.accounts import create_user
    from wellpipe.cloud.services.keys import create_key
    from wellpipe.cloud.services.tokens import save_connection
    from wellpipe.cloud.settings import CloudSettings
    from wellpipe.sandbox import WhoopSandbox
    from wellpipe.sandbox.fitbit import FitbitSandbox
    from wellpipe.sandbox.oura import OuraSandbox

    client = ("bench-client", "bench-secret")
    for name in ORIGINS:
        os.environ[f"WELLPIPE_{name.upper()}_CLIENT_ID"] = client[0]
        os.environ[f"WELLPIPE_{name.upper()}_CLIENT_SECRET"] = client[1]
    sandboxes: dict[str, WhoopSandbox | OuraSandbox | FitbitSandbox] = {
        "whoop": WhoopSandbox(seed=42, rate_limits=()),
        "oura": OuraSandbox(seed=42),
        "fitbit": FitbitSandbox(seed=42),
    }
    routes: dict[str, httpx2.AsyncBaseTransport] = {
        origin.removeprefix("http://"): sandboxes[name].transport()
        for name, origin in ORIGINS.items()
    }
    home = Path(tempfile.mkdtemp(prefix="wellpipe-bench-"))
    settings = CloudSettings(
        home=home,
        encryption_keys=SecretStr("k1:" + urlsafe_b64encode(secrets.token_bytes(32)).decode()),
        api_key_pepper=SecretStr(secrets.token_urlsafe(32)),
        public_url=PUBLIC_URL,
        sandbox=False,
        burst_per_minute=10_000,
    )
    app = create_app(settings, provider_transport=_ByHost(routes), provider_base_urls=ORIGINS)
    sizes: list[tuple[str, int, int]] = []
    transport = httpx2.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=transport, base_url=PUBLIC_URL, timeout=60) as http,
    ):
        ctx = app.state.ctx
        user = await create_user(ctx, email="bench@example.com", password="a long bench password")
        for name, sandbox in sandboxes.items():
            tokens = sandbox.issue_token_set(client_id=client[0])
            await save_connection(
                ctx, user_id=user.id, provider=name, tokens=tokens, provider_user_id=None
            )
        key = (await create_key(ctx, user_id=user.id, name="bench")).full_key
        auth = {"Authorization": f"Bearer {key}"}
        today = ctx.clock.now().date()
        month_ago, quarter_ago = today - timedelta(days=29), today - timedelta(days=89)
        for question in questions(str(today), str(month_ago), str(quarter_ago)):
            answers = []
            for detail in ("compact", "full"):
                glue = "&" if "?" in question.path else "?"
                response = await http.get(f"{question.path}{glue}detail={detail}", headers=auth)
                if response.status_code != 200:
                    raise SystemExit(f"{question.path}: {response.status_code} {response.text}")
                answers.append(len(response.content))
            sizes.append((question.label, answers[0], answers[1]))
    return sizes


def kb(size: int) -> str:
    return f"{size / 1000:,.1f} KB"


def main() -> None:
    console = Console()
    sizes = anyio.run(measure)
    table = Table(title="REST answer sizes, WHOOP + Oura + Fitbit (bytes on the wire, no gzip)")
    for column in ("question", "compact (default)", "full", "compact / full", "target"):
        table.add_column(column, justify="left" if column == "question" else "right")
    failed = False
    for label, compact, full in sizes:
        target = TARGETS.get(label)
        verdict = ""
        if target is not None:
            ok = compact <= target
            failed |= not ok
            verdict = f"<= {kb(target)} {'ok' if ok else 'MISSED'}"
        table.add_row(label, kb(compact), kb(full), f"{compact / full:.2f}", verdict)
    console.print(table)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
