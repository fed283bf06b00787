"""Fitbit through the Google Health API v4: wire models, client, mapping, OAuth and provider."""

from wellpipe.providers.fitbit.client import AccountNotLinked, GoogleHealthClient
from wellpipe.providers.fitbit.connector import CONNECTOR
from wellpipe.providers.fitbit.info import INFO, SCOPES
from wellpipe.providers.fitbit.oauth import fitbit_oauth_client
from wellpipe.providers.fitbit.provider import FitbitProvider, open_fitbit
from wellpipe.providers.fitbit.settings import FitbitSettings

__all__ = [
    "CONNECTOR",
    "INFO",
    "SCOPES",
    "AccountNotLinked",
    "FitbitProvider",
    "FitbitSettings",
    "GoogleHealthClient",
    "fitbit_oauth_client",
    "open_fitbit",
]
