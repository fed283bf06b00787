"""The public surface, and the layer rule: core ← net ← oauth ← providers ← {cli, cloud}."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import wellpipe
import wellpipe.core

SRC = Path(wellpipe.__file__).parent


def imports_of(package: str) -> set[str]:
    found: set[str] = set()
    for path in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_public_api_is_exactly_the_core() -> None:
    public = {name for name in dir(wellpipe) if not name.startswith("_")} - {
        "cli",
        "core",
        "net",
        "oauth",
        "providers",
        "sandbox",
    }
    assert set(wellpipe.__all__) == public | {"__version__"}
    assert set(wellpipe.core.__all__) == {
        n for n in dir(wellpipe.core) if not n.startswith("_")
    } - {"clock", "errors", "models", "ports", "provider_info", "reading", "tokens"}


def test_core_imports_no_http_web_or_sql_library() -> None:
    used = roots(imports_of("core"))
    assert used.isdisjoint(
        {"httpx", "httpx2", "starlette", "fastapi", "uvicorn", "sqlalchemy", "click"}
    )
    assert {m for m in imports_of("core") if m.startswith("wellpipe.")} <= {
        m for m in imports_of("core") if m.startswith("wellpipe.core")
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "core",
            {
                "wellpipe.net",
                "wellpipe.oauth",
                "wellpipe.providers",
                "wellpipe.sandbox",
                "wellpipe.cli",
            },
        ),
        ("net", {"wellpipe.oauth", "wellpipe.providers", "wellpipe.sandbox", "wellpipe.cli"}),
        ("oauth", {"wellpipe.providers", "wellpipe.sandbox", "wellpipe.cli"}),
        ("providers", {"wellpipe.sandbox", "wellpipe.cli", "wellpipe.cloud"}),
        ("sandbox", {"wellpipe.providers", "wellpipe.oauth", "wellpipe.net", "wellpipe.cli"}),
        ("cli", {"wellpipe.cloud"}),
        ("cloud", {"wellpipe.cli"}),
        ("mcp", {"wellpipe.cli", "wellpipe.cloud", "wellpipe.sandbox"}),
        (
            "history",
            {
                "wellpipe.net",
                "wellpipe.oauth",
                "wellpipe.providers",
                "wellpipe.sandbox",
                "wellpipe.mcp",
                "wellpipe.cli",
                "wellpipe.cloud",
            },
        ),
    ],
)
def test_layers_only_import_downwards(package: str, forbidden: set[str]) -> None:
    used = imports_of(package)
    leaks = {m for m in used for f in forbidden if m == f or m.startswith(f + ".")}
    assert not leaks


def test_no_whoop_url_is_written_down_outside_the_whoop_settings() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "whoop.com" in path.read_text() and path != SRC / "providers" / "whoop" / "settings.py"
    ]
    assert offenders == []


GOOGLE_HEALTH_URLS = (
    "https://health.googleapis.com",
    "https://health.mtls.googleapis.com",
    "https://oauth2.googleapis.com",
    "https://accounts.google.com/o/oauth2",
    "https://console.cloud.google.com",
)
"""Where Google Health, its OAuth server and its developer console live. Scope names
(``https://www.googleapis.com/auth/googlehealth.*``) are identifiers the sandbox must also
know, and the cloud's own Google sign-in (``accounts.google.com/.well-known``) is not a
provider URL."""


def test_no_google_health_url_is_written_down_outside_the_fitbit_settings() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if any(host in path.read_text() for host in GOOGLE_HEALTH_URLS)
        and path != SRC / "providers" / "fitbit" / "settings.py"
    ]
    assert offenders == []


OURA_URL = re.compile(r"https?://[\w.-]*ouraring\.com")
"""Oura's API, consent screen and developer portal (``api.``/``cloud.ouraring.com``)."""


def test_no_oura_url_is_written_down_outside_the_oura_settings() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if OURA_URL.search(path.read_text()) and path != SRC / "providers" / "oura" / "settings.py"
    ]
    assert offenders == []


def _imports_of_file(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_cloud_web_layers_import_fastapi() -> None:
    cloud = SRC / "cloud"
    web_layers = {cloud / "api", cloud / "web"}
    offenders = [
        str(path.relative_to(SRC))
        for path in cloud.rglob("*.py")
        if {"fastapi", "starlette"} & _imports_of_file(path)
        and not any(layer in path.parents for layer in web_layers)
        and path != cloud / "app.py"
    ]
    assert offenders == []


def test_only_cloud_db_writes_sql() -> None:
    """SQL lives in ``cloud/db``: no other module imports SQLAlchemy or the PostgreSQL driver."""
    cloud = SRC / "cloud"
    offenders = [
        str(path.relative_to(SRC))
        for path in cloud.rglob("*.py")
        if {"sqlalchemy", "psycopg", "psycopg_pool", "aiosqlite", "sqlite3"}
        & _imports_of_file(path)
        and cloud / "db" not in path.parents
    ]
    assert offenders == []
    # and the check can see what it is looking for
    assert "sqlalchemy" in _imports_of_file(cloud / "db" / "engine.py")


def test_per_process_state_is_typed_not_keyed() -> None:
    """What a worker holds is `ServiceState`'s fields, never string keys in a dictionary."""
    from wellpipe.cloud.context import CloudContext

    assert "extras" not in CloudContext.__dataclass_fields__
    assert "state" in CloudContext.__dataclass_fields__
