"""WHOOP (API v2): wire models, client, mapping, OAuth settings and the `HealthProvider`."""

from wellpipe.providers.whoop.client import WhoopClient
from wellpipe.providers.whoop.connector import CONNECTOR
from wellpipe.providers.whoop.info import INFO, READ_SCOPES, SCOPES
from wellpipe.providers.whoop.oauth import whoop_oauth_client
from wellpipe.providers.whoop.provider import WhoopProvider, open_whoop
from wellpipe.providers.whoop.settings import WhoopSettings

__all__ = [
    "CONNECTOR",
    "INFO",
    "READ_SCOPES",
    "SCOPES",
    "WhoopClient",
    "WhoopProvider",
    "WhoopSettings",
    "open_whoop",
    "whoop_oauth_client",
]
