"""The cloud's database fixtures, for the cloud homes of the store contract."""

from __future__ import annotations

from tests.cloud.conftest import postgres_server, postgres_template

__all__ = ["postgres_server", "postgres_template"]
