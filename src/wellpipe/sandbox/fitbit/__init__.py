"""The Fitbit (Google Health API v4) sandbox: history, Google OAuth, rate limits, faults."""

from wellpipe.sandbox.faults import BodyFault, Fault
from wellpipe.sandbox.fitbit.app import FitbitSandbox, LoggedRequest
from wellpipe.sandbox.fitbit.history import (
    DEFAULT_MEMBERS,
    History,
    MemberHistory,
    MemberSpec,
    generate_history,
)
from wellpipe.sandbox.fitbit.oauth import ALLOWED_SCOPES
from wellpipe.sandbox.fitbit.types import ALL_READ_SCOPES, DATA_TYPES

__all__ = [
    "ALLOWED_SCOPES",
    "ALL_READ_SCOPES",
    "DATA_TYPES",
    "DEFAULT_MEMBERS",
    "BodyFault",
    "Fault",
    "FitbitSandbox",
    "History",
    "LoggedRequest",
    "MemberHistory",
    "MemberSpec",
    "generate_history",
]
