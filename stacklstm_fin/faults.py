"""Named fault-injection points for crash-consistency tests.

``point("load.after_prices")`` kills the current process with SIGKILL when the
environment variable ``STACKLSTM_FAULT_POINT`` names that point, the way a
worker dies when the machine under it goes away. Unset (always, outside the
tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "STACKLSTM_FAULT_POINT"


def point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
