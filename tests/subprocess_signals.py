"""For tests that Ctrl-C a harness they started: the child gets SIGINT's default action whatever the test runner
inherited (a shell starts background jobs with SIGINT ignored, and a Python started so never raises
KeyboardInterrupt)."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """`preexec_fn` of the child: SIGINT back to its default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
