"""Exclusive locks on the folders a build writes: its output and its cache.

Two builds into one ``--out`` (or on one ``--cache``) would interleave their
pages and their state writes. Each build therefore holds an ``flock`` on a
lock file for every folder it writes, for the whole build; a second build
fails at once (non-blocking) with the holder's pid instead of waiting or
corrupting.

The lock file sits *beside* the folder (``.<name>.ngff-catalog-lock`` in its
parent), not inside it, because the site writer may swap in a new output
folder at the end of a build: a lock inside the folder would be swapped away
with it. The file is never deleted: unlinking it would let a waiting build
lock an orphaned inode while a third one creates a new file. Its presence
means nothing; only the ``flock`` counts, and the kernel drops that when the
holding process dies (even by SIGKILL), so a killed build never leaves a lock
that blocks the next one.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_SUFFIX = ".ngff-catalog-lock"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class LockError(Exception):
    """Another build holds the folder, or its lock file cannot be made."""


def get_lock_path(folder: Path | str) -> Path:
    """The lock file of ``folder``: beside it, so it survives a swap of the folder."""
    folder = Path(folder).resolve()
    return folder.parent / f".{folder.name or 'root'}{LOCK_SUFFIX}"


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    # The holder writes its pid right after locking: an empty file is a holder
    # caught between the two steps.
    return f"pid {text}" if text.isdigit() else "pid unknown"


@contextmanager
def hold_folder_lock(folder: Path | str, what: str) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` for the ``with`` block; yields the lock file.

    ``what`` names the folder in the error, e.g. ``"output folder (--out)"``.
    Raises :class:`LockError` when another process holds it.
    """
    path = get_lock_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC: a program the build starts must not inherit (and so keep
        # holding) the lock; forked workers of the build may, they are the build.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise LockError(
            f"cannot lock the {what} {folder}: {path.parent} is not a writable folder ({e.strerror or e})"
        ) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockError(
                f"the {what} {folder} is in use by another ngff-catalog build ({_read_holder(fd)}, "
                f"lock file {path}); wait for it to finish, or use another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        # Closing the last descriptor releases the lock; the file stays (see above).
        os.close(fd)


def die_with_parent(parent: int) -> None:
    """Make this forked worker of the build (pid ``parent``) die when the build does.

    A forked worker inherits the build's lock descriptors, and so holds its
    locks for as long as it lives: were it to outlive a build killed with
    SIGKILL (idle, waiting for work that never comes), every later build on
    that folder would be refused. Linux kills it with the build
    (``PR_SET_PDEATHSIG``); elsewhere this does nothing beyond the check below.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL))
    except (AttributeError, OSError):  # not Linux
        pass
    if os.getppid() != parent:  # the build died before the signal was armed
        os._exit(1)
