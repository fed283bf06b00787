"""``wellpipe cloud rotate-keys`` in a process that dies by SIGKILL in the middle of a batch.

Run as ``python -m tests.cloud.rotation_worker [rotate-keys options]`` with the cloud's
``WELLPIPE_*`` settings. With ``ROTATION_KILL_AFTER=N`` the process kills itself just
before the database receives its N-th token rewrite: batches committed before stay
done, the batch in flight is rolled back by the database.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from wellpipe.cloud.rotation_command import rotate_keys


def _die_after(limit: int) -> None:
    seen = 0

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal seen
        if statement.startswith(("UPDATE connections", "UPDATE revocations")):
            seen += 1
            if seen >= limit:
                os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "before_cursor_execute", before)


if __name__ == "__main__":
    if os.environ.get("ROTATION_KILL_AFTER"):
        _die_after(int(os.environ["ROTATION_KILL_AFTER"]))
    rotate_keys.main(sys.argv[1:], prog_name="wellpipe cloud rotate-keys")
