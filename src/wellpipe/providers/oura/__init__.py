"""Oura (API v2): wire models, client, mapping, OAuth settings and the `HealthProvider`."""

from wellpipe.providers.oura.client import OuraClient
from wellpipe.providers.oura.connector import CONNECTOR
from wellpipe.providers.oura.info import INFO, SCOPES
from wellpipe.providers.oura.oauth import oura_oauth_client
from wellpipe.providers.oura.provider import OuraProvider, open_oura
from wellpipe.providers.oura.settings import OuraSettings

__all__ = [
    "CONNECTOR",
    "INFO",
    "SCOPES",
    "OuraClient",
    "OuraProvider",
    "OuraSettings",
    "open_oura",
    "oura_oauth_client",
]
