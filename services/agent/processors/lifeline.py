"""Ties a process's life to its parent's: it is killed when the parent dies.

The fork server of :mod:`services.agent.processors.isolation` imports this module (its preload
list names it first), and importing it is what binds the server to the worker that started it:
multiprocessing's fork server otherwise outlives a worker killed with SIGKILL, and so do the
readers it forked, still reading a file or holding a provider's call for a job another worker
now runs. Each reader binds itself to the server the same way, by calling
:func:`die_with_parent`. Nothing else imports this module.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Have the kernel send this process SIGKILL when its parent exits (Linux's
    PR_SET_PDEATHSIG); exit now if the parent is gone already."""
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before the request took effect
        os._exit(1)


die_with_parent()
