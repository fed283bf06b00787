"""WHOOP's `ProviderConnector`: what the cloud needs to connect a member without naming WHOOP."""

from __future__ import annotations

from pydantic import AnyHttpUrl

from wellpipe.providers.connector import ProviderConnector, ProviderLocation
from wellpipe.providers.whoop.info import INFO
from wellpipe.providers.whoop.oauth import whoop_oauth_client
from wellpipe.providers.whoop.provider import open_whoop
from wellpipe.providers.whoop.settings import WhoopSettings

__all__ = ["CONNECTOR"]


def _location(base_url: str | None) -> ProviderLocation:
    return WhoopSettings() if base_url is None else WhoopSettings(base_url=AnyHttpUrl(base_url))


CONNECTOR = ProviderConnector(
    info=INFO, location=_location, oauth_client=whoop_oauth_client, open=open_whoop
)
"""How to reach WHOOP."""
