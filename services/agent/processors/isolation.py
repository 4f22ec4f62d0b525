"""Reading a material in a child process of its own, within a memory and a time budget.

A crafted file can make a reader's library take gigabytes (a 50 MB HTML page took 3.5 GB and
94 s in lxml and trafilatura) or run for minutes, and memory a Python process once took is
seldom given back to the system. So every material is read in a child process forked from a
server that has the readers imported already (multiprocessing's forkserver: a fork costs
milliseconds, not an interpreter's start), with its address space capped (RLIMIT_AS), and a
deadline. Past either, the child is gone with all it took, and the material ends ``error``
saying which limit it met. What it read comes back over a pipe as plain chunks; its errors
come back as their kind and message (a bug of ours comes back as one, not as a damaged file).
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.connection
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

from services.agent.documents import Chunk
from services.agent.processors.errors import NotConfigured, SourceUnavailable, UnreadableMaterial

MIB = 1024 * 1024
# The child's address space, the interpreter and every reader's libraries included (~130 MiB
# of it): what one material may take of the worker's memory.
MEMORY_BYTES = 512 * MIB
# A document of more text than this is refused: it is what the worker holds, and stores, of one
# material (a 50 MB HTML page came out as 674,020 chunks).
MAX_DOCUMENT_CHARS = 32_000_000
# The readers' modules the fork server imports once, so each child starts with them.
_PRELOAD = [
    "services.agent.processors.lifeline",  # first: the server dies with the worker that started it
    "services.agent.processors.files",
    "services.agent.processors.text",
    "services.agent.processors.presentation",
    "services.agent.processors.subtitles",
    "services.agent.processors.transcription",
    "services.agent.processors.web",
]
_KINDS: dict[str, type[Exception]] = {
    "unreadable": UnreadableMaterial,
    "not_configured": NotConfigured,
    "unavailable": SourceUnavailable,
}


class OverBudget(UnreadableMaterial):
    """Reading the material took more memory, time or text than one material may."""


class Cancelled(Exception):
    """The reading was called off (its material was deleted); the child is gone."""


# how often a reading looks whether it was called off
_CANCEL_CHECK_SECONDS = 0.25


@functools.cache
def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def read(
    reader: Callable[..., list[Chunk]],
    *args: Any,
    seconds: float,
    memory_bytes: int = MEMORY_BYTES,
    cancel: threading.Event | None = None,
    **kwargs: Any,
) -> list[Chunk]:
    """``reader(*args, **kwargs)`` in a child process (``reader`` and its arguments must be
    picklable: module-level functions and plain values), within ``memory_bytes`` and
    ``seconds``; its chunks, or the error it raised; :class:`OverBudget` past a budget,
    :class:`Cancelled` (the child killed) within a quarter second of ``cancel`` being set."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    child = _context().Process(
        target=_run, args=(sending, memory_bytes, reader, args, kwargs), name="material-reader", daemon=True
    )
    child.start()
    sending.close()
    try:
        deadline = time.monotonic() + seconds
        while not receiving.poll(max(0.0, min(_CANCEL_CHECK_SECONDS, deadline - time.monotonic()))):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the reading was called off")
            if time.monotonic() >= deadline:
                raise OverBudget(f"reading it took longer than {seconds:.0f} s, the most one material may take")
        try:
            kind, value = receiving.recv()
        except EOFError:  # killed with no word: the kernel's OOM killer, or a crash under the cap
            raise OverBudget(_memory_message(memory_bytes)) from None
    finally:
        receiving.close()
        child.kill()
        child.join()
    if kind == "chunks":
        return value
    if kind == "memory":
        raise OverBudget(_memory_message(memory_bytes))
    if kind in _KINDS:
        raise _KINDS[kind](value)
    raise RuntimeError(f"the material reader failed: {value}")


def _memory_message(memory_bytes: int) -> str:
    return f"reading it needed more than {memory_bytes // MIB} MiB of memory, the most one material may take"


def _near_the_cap(memory_bytes: int) -> bool:
    """Whether this process's resident peak came within a quarter of its address space cap."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > memory_bytes * 3 // 4


def _run(
    sending: multiprocessing.connection.Connection,
    memory_bytes: int,
    reader: Callable[..., list[Chunk]],
    args: tuple,
    kwargs: dict,
) -> None:
    # Imported here, in the reader, never in the worker: importing it binds a process to its
    # parent, and the worker's parent (a shell, `make up`) is not meant to take it down.
    from services.agent.processors import lifeline

    lifeline.die_with_parent()  # the fork server, and through it the worker
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        chunks = reader(*args, **kwargs)
        if sum(len(chunk.text) for chunk in chunks) > MAX_DOCUMENT_CHARS:
            outcome: tuple[str, Any] = (
                "unreadable",
                f"its text is longer than {MAX_DOCUMENT_CHARS // 1_000_000} million characters,"
                " the most one material may hold: split it into several",
            )
        else:
            outcome = ("chunks", chunks)
    except MemoryError:
        outcome = ("memory", "")
    except NotConfigured as exc:
        outcome = ("not_configured", str(exc))
    except UnreadableMaterial as exc:
        outcome = ("unreadable", str(exc))
    except SourceUnavailable as exc:
        outcome = ("unavailable", str(exc))
    except Exception as exc:
        outcome = ("bug", f"{type(exc).__name__}: {exc}")
    try:
        sending.send(outcome)
    except MemoryError:  # the chunks fit, but not twice, pickled
        sending.send(("memory", ""))
    sending.close()
