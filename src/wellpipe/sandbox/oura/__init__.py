"""The Oura sandbox: history generator, OAuth server, rate limits, faults and the ASGI app."""

from wellpipe.sandbox.faults import BodyFault, Fault
from wellpipe.sandbox.oura.app import API, ROUTE_SCOPES, LoggedRequest, OuraSandbox
from wellpipe.sandbox.oura.history import (
    COLLECTIONS,
    DEFAULT_MEMBERS,
    History,
    MemberHistory,
    MemberSpec,
    generate_history,
)
from wellpipe.sandbox.oura.oauth import ALL_SCOPES

__all__ = [
    "ALL_SCOPES",
    "API",
    "COLLECTIONS",
    "DEFAULT_MEMBERS",
    "ROUTE_SCOPES",
    "BodyFault",
    "Fault",
    "History",
    "LoggedRequest",
    "MemberHistory",
    "MemberSpec",
    "OuraSandbox",
    "generate_history",
]
