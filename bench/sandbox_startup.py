"""How long each in-process sandbox takes to construct and to answer its first data request.

This is what ``wellpipe demo`` pays before the first tool call is answered: it builds every
installed sandbox (default seed, 400 days, two members) and reads from each. Every run is a
fresh interpreter (imports are done before the clock starts), so caches do not flatter the
numbers; the table shows the median of ``--runs`` runs.

    python bench/sandbox_startup.py [--runs 5] [--only fitbit]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import anyio
import httpx2

SANDBOXES = {
    "whoop": ("wellpipe.sandbox.whoop", "WhoopSandbox", "/developer/v2/cycle"),
    "oura": ("wellpipe.sandbox.oura", "OuraSandbox", "/v2/usercollection/daily_sleep"),
    "fitbit": (
        "wellpipe.sandbox.fitbit",
        "FitbitSandbox",
        "/v4/users/me/dataTypes/sleep/dataPoints",
    ),
}


def measure_once(name: str) -> dict[str, float]:
    """Construct one sandbox and make one authorised data request; seconds for each."""
    import importlib

    module_name, class_name, path = SANDBOXES[name]
    sandbox_class: Any = getattr(importlib.import_module(module_name), class_name)

    started = time.perf_counter()
    sandbox = sandbox_class(seed=42)
    constructed = time.perf_counter()
    token = sandbox.issue_tokens()["access_token"]

    async def first_request() -> int:
        async with httpx2.AsyncClient(
            transport=sandbox.transport(), base_url="http://sandbox.invalid"
        ) as client:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            return response.status_code

    before = time.perf_counter()
    status = anyio.run(first_request)
    answered = time.perf_counter()
    if status != 200:
        raise SystemExit(f"{name}: first request answered {status}")
    return {
        "construct": constructed - started,
        "first_request": answered - before,
        "total": (constructed - started) + (answered - before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=sorted(SANDBOXES), action="append")
    parser.add_argument("--one", choices=sorted(SANDBOXES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_once(args.one)))
        return
    names = args.only or list(SANDBOXES)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(args.runs):
        for name in names:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            rows[name].append(json.loads(out))
    print(f"median of {args.runs} fresh-interpreter runs, milliseconds")
    print(f"{'sandbox':<8} {'construct':>10} {'1st request':>12} {'total':>8}")
    grand = 0.0
    for name, runs in rows.items():
        medians = {key: statistics.median(r[key] for r in runs) * 1000 for key in runs[0]}
        grand += medians["total"]
        print(
            f"{name:<8} {medians['construct']:>10.0f} {medians['first_request']:>12.0f} "
            f"{medians['total']:>8.0f}"
        )
    print(f"{'all':<8} {'':>10} {'':>12} {grand:>8.0f}")


if __name__ == "__main__":
    main()
