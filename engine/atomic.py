"""Atomic file writes: a temporary file beside the target, fsynced, then ``os.replace``d over it,
so a crash, a cancelled run or a full disk never leaves half a file behind.

While a write is under way SIGTERM is treated like Ctrl-C (``Terminated``, a ``KeyboardInterrupt``)
so the temporary file is removed as for SIGINT; only ``kill -9`` can still leave one behind.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during an atomic write; handled wherever Ctrl-C is."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise ``Terminated`` for the block, where it would otherwise kill the process
    before any cleanup. Only the main thread can, and a handler the program set is left alone."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):
        previous = None
    if previous is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it when the block ends without an error.

    The file is created with mode 0o666, so the umask decides the final permissions as for any
    saved file (``tempfile.mkstemp``'s 0o600 made shipped weights and manifests private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with _sigterm_as_interrupt():
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
        try:
            yield temp
            with open(temp, "rb+") as handle:  # whoever wrote it may not have synced it
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows has no folder handles to sync."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to sync folders; the file itself is already safe
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call ``write(file)`` on a file opened with ``mode`` ("wb" or "w") and move it into place."""
    with atomic_path(path) as temp, open(temp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
        write(handle)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text), mode="w")
