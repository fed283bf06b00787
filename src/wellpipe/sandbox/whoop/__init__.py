"""The WHOOP sandbox: history generator, OAuth server, rate limits, faults and the ASGI app."""

from wellpipe.sandbox.faults import BodyFault, Fault
from wellpipe.sandbox.whoop.app import LoggedRequest, WhoopSandbox
from wellpipe.sandbox.whoop.history import DEFAULT_MEMBERS, History, MemberSpec, generate_history

__all__ = [
    "DEFAULT_MEMBERS",
    "BodyFault",
    "Fault",
    "History",
    "LoggedRequest",
    "MemberSpec",
    "WhoopSandbox",
    "generate_history",
]
