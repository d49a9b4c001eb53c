"""Named fault points, so tests can kill a promotion or rollback at a chosen instant.

``CHURNOPS_FAULT`` holds comma-separated ``POINT:ACTION[@DELAY]`` items, for example
``registry-updated:kill`` or ``registry-commit-written:term@0.3``. When the code reaches ``POINT``:

- ``kill``/``term``/``hup``/``int`` send SIGKILL/SIGTERM/SIGHUP/SIGINT, after ``DELAY``
  seconds if given (from a timer thread, so a delay lands *inside* the step that follows
  the point, such as a ``git`` subprocess);
- ``sleep`` pauses ``DELAY`` seconds (to widen a window for an outside killer).

The signal goes to the whole process group when this process leads it (as ``timeout``,
systemd and ``docker stop`` do, children included), else to this process only. Unset,
:func:`fault` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading
import time

FAULT_ENV = "CHURNOPS_FAULT"

_SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "hup": signal.SIGHUP, "int": signal.SIGINT}


def _send(signum: int) -> None:
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signum)
    else:
        os.kill(os.getpid(), signum)


def fault(point: str) -> None:
    """Act on ``point`` if ``$CHURNOPS_FAULT`` names it; a no-op otherwise."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name != point:
            continue
        action, _, delay_text = action.partition("@")
        delay = float(delay_text or 0)
        if action == "sleep":
            time.sleep(delay)
        elif action in _SIGNALS:
            if delay:
                timer = threading.Timer(delay, _send, (_SIGNALS[action],))
                timer.daemon = True
                timer.start()
            else:
                _send(_SIGNALS[action])
