"""Download my health data: the user's kept history as a streamed zip of tidy tables."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cloud.conftest import Cloud
from tests.cloud.test_dashboard import page, sign_up, submit
from tests.history.test_export import assert_holds, by_kind, full_sleep, sample
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.services.audit import list_events
from wellpipe.cloud.services.export import (
    HEALTH_DATA_NOTE,
    NoHealthData,
    download_history,
    export_account,
)
from wellpipe.core.models import DataKind, Record
from wellpipe.history.export import EXPORT_KINDS, ExportFormat, file_name


async def keep(cloud: Cloud, user_id: str, found: list[Record]) -> None:
    await UserHistory.of(cloud.ctx, user_id).put(found, now=cloud.clock.now())


def folder_of(cloud: Cloud) -> str:
    return f"wellpipe-health-{cloud.clock.now():%Y-%m-%d}"


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_the_dashboard_streams_the_users_history_as_a_zip_of_tables(
    cloud: Cloud, tmp_path: Path, fmt: ExportFormat
) -> None:
    user_id = await sign_up(cloud)
    found = sample()
    await keep(cloud, user_id, found)
    dashboard = (await page(cloud, "/dashboard")).text
    assert 'action="/account/health-export"' in dashboard
    assert f'<option value="{fmt.value}"' in dashboard

    response = await submit(cloud, "/account/health-export", {"format": fmt.value})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    folder = folder_of(cloud)
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{folder}-{fmt.value}.zip"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert "content-length" not in response.headers  # streamed, not built first
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == [f"{folder}/{file_name(k, fmt)}" for k in EXPORT_KINDS]
    archive.extractall(tmp_path)
    grouped = by_kind(found)
    for kind in EXPORT_KINDS:
        assert_holds(tmp_path / folder / file_name(kind, fmt), kind, grouped[kind])


async def test_the_download_is_audited_with_its_format(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await keep(cloud, user_id, sample())

    response = await submit(cloud, "/account/health-export", {"format": "parquet"})

    assert response.status_code == 200
    events = await list_events(cloud.ctx, user_id)
    exported = [e for e in events if e.event == "account.exported"]
    assert [e.detail for e in exported] == [{"data": "health", "format": "parquet"}]
    assert exported[0].request_id == response.headers["x-request-id"]
    assert "Data exported" in (await page(cloud, "/dashboard")).text


async def test_a_user_downloads_only_their_own_records(cloud: Cloud) -> None:
    other = await sign_up(cloud, "other@example.com")
    await keep(cloud, other, [full_sleep(sample()[0].day, "theirs")])
    await cloud.client.post("/signout")  # a fresh browser for the second account
    cloud.client.cookies.clear()
    mine = await sign_up(cloud, "mine@example.com")
    await keep(cloud, mine, [full_sleep(sample()[0].day, "mine")])

    response = await submit(cloud, "/account/health-export", {"format": "jsonl"})

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    [member] = archive.namelist()
    rows = [json.loads(line) for line in archive.read(member).splitlines()]
    assert [row["source_id"] for row in rows] == ["mine"]


async def test_without_history_the_dashboard_says_so_and_nothing_is_audited(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)

    response = await submit(cloud, "/account/health-export", {"format": "csv"})

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard#export-title"
    assert "keeps no health records of yours yet" in (await page(cloud, "/dashboard")).text
    events = await list_events(cloud.ctx, user_id)
    assert "account.exported" not in [e.event for e in events]


async def test_an_unknown_format_is_refused_in_words(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await keep(cloud, user_id, sample())

    response = await submit(cloud, "/account/health-export", {"format": "xlsx"})

    assert response.status_code == 303
    assert "Choose CSV, JSON Lines or Parquet" in (await page(cloud, "/dashboard")).text


async def test_the_download_needs_a_signed_in_same_site_form(cloud: Cloud) -> None:
    signed_out = await cloud.client.post(
        "/account/health-export", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/signin"
    user_id = await sign_up(cloud)
    await keep(cloud, user_id, sample())
    forged = await submit(cloud, "/account/health-export", {"format": "csv"}, token="forged")
    assert forged.status_code == 403
    cross_site = await submit(
        cloud,
        "/account/health-export",
        {"format": "csv"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403


async def test_the_service_streams_lazily_and_narrows_by_kind_and_day(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    found = sample()
    await keep(cloud, user_id, found)
    later = max(r.day for r in found)

    download = await download_history(
        cloud.ctx, user_id, ExportFormat.CSV, kinds={DataKind.SLEEP}, since=later
    )

    assert download.media_type == "application/zip"
    body = b"".join([chunk async for chunk in download.chunks])
    archive = zipfile.ZipFile(io.BytesIO(body))
    [member] = archive.namelist()
    lines = archive.read(member).decode().splitlines()
    wanted = [r for r in by_kind(found)[DataKind.SLEEP] if r.day >= later]
    assert len(lines) == 1 + len(wanted)
    with pytest.raises(NoHealthData):
        await download_history(
            cloud.ctx, user_id, ExportFormat.CSV, since=later + timedelta(days=1)
        )


async def test_the_account_export_points_to_the_health_download(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    document = await export_account(cloud.ctx, user_id)
    assert document["health_data"] == HEALTH_DATA_NOTE
    assert "does not store" not in HEALTH_DATA_NOTE
    assert "encrypted under a key of your own" in HEALTH_DATA_NOTE
    assert "Download my health data" in HEALTH_DATA_NOTE
    dashboard = (await page(cloud, "/dashboard")).text
    assert "stores no health data" not in dashboard
    assert "Download my health data (zip)" in dashboard
