"""HTTP plumbing shared by the OAuth client and the provider clients.

Every HTTP import in Wellpipe's client side goes through here or `wellpipe.oauth`.
"""

from wellpipe.net.client import DEFAULT_TIMEOUT, USER_AGENT, build_http_client
from wellpipe.net.retry import Reply, RetryPolicy, send
from wellpipe.net.throttle import RequestBudget, Throttle, ThrottleState
from wellpipe.net.validation import invalid_response, parse_reply

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "Reply",
    "RequestBudget",
    "RetryPolicy",
    "Throttle",
    "ThrottleState",
    "build_http_client",
    "invalid_response",
    "parse_reply",
    "send",
]
