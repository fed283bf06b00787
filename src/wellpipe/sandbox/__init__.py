"""Faithful fakes of the provider APIs: the embedded default for demos, tests and benchmarks.

Run one as a server with ``wellpipe sandbox --port 8765``, or in process::

    sandbox = WhoopSandbox(seed=42)
    transport = sandbox.transport()  # an httpx2.ASGITransport
"""

from wellpipe.sandbox.whoop import Fault, WhoopSandbox

__all__ = ["Fault", "WhoopSandbox"]
