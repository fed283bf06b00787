"""Oura's `ProviderConnector`: what the cloud needs to connect a member without naming Oura."""

from __future__ import annotations

from wellpipe.providers.connector import ProviderConnector, ProviderLocation
from wellpipe.providers.oura.info import INFO
from wellpipe.providers.oura.oauth import oura_oauth_client
from wellpipe.providers.oura.provider import open_oura
from wellpipe.providers.oura.settings import OuraSettings

__all__ = ["CONNECTOR"]


def _location(base_url: str | None) -> ProviderLocation:
    """Settings from the environment, or every Oura URL at ``base_url`` (a sandbox)."""
    return OuraSettings() if base_url is None else OuraSettings.for_origin(base_url)


CONNECTOR = ProviderConnector(
    info=INFO, location=_location, oauth_client=oura_oauth_client, open=open_oura
)
"""How to reach Oura."""
