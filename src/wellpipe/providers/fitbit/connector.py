"""Google Health's `ProviderConnector`: what the cloud needs to connect an account."""

from __future__ import annotations

from wellpipe.providers.connector import ProviderConnector, ProviderLocation
from wellpipe.providers.fitbit.info import INFO
from wellpipe.providers.fitbit.oauth import fitbit_oauth_client
from wellpipe.providers.fitbit.provider import open_fitbit
from wellpipe.providers.fitbit.settings import FitbitSettings

__all__ = ["CONNECTOR"]


def _location(base_url: str | None) -> ProviderLocation:
    return FitbitSettings() if base_url is None else FitbitSettings.for_origin(base_url)


CONNECTOR = ProviderConnector(
    info=INFO, location=_location, oauth_client=fitbit_oauth_client, open=open_fitbit
)
"""How to reach Google Health."""
