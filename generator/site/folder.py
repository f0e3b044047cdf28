"""Many small files into one folder: dataset pages, the search index's card chunks and term nodes.

Where processes write a site together (the forked page writers and the
process writing the search index beside them), each ``Folder`` is given the
same lock. It then buffers its files and writes a batch at a time holding
that lock: ext4 serialises file creation on locks of its own, and two
processes creating files at once spend about twice the system time of one
process creating them all (100,000 folders, each with a page: 9 s of system
time in one process, 20 s in two). Rendering needs no lock, so the writers
still render side by side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
# Paths relative to an open directory where the OS allows it: no walk from "/"
# for each of 250,000 files (a 1,000,000-row catalog's card chunks).
_RELATIVE = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
# Bytes buffered before a locked folder takes the lock: about 30 dataset pages,
# a few milliseconds of writing while the other writers render.
BATCH_BYTES = 256 * 1024


class Folder:
    """Writes files into ``path`` (which exists); ``close`` when done.

    With ``lock`` (a multiprocessing lock shared by the processes writing the
    site), files are buffered and written ``BATCH_BYTES`` at a time holding it.
    ``bytes`` counts what was written.
    """

    def __init__(self, path: Path | str, lock: Any = None) -> None:
        self.path = path
        self.lock = lock
        self.bytes = 0
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if _RELATIVE else None
        self._prefix = "" if _RELATIVE else f"{path}{os.sep}"
        self._pending: list[tuple[str, str | None, bytes]] = []
        self._pending_bytes = 0

    def write(self, name: str, text: str) -> None:
        """``name``, a UTF-8 text file."""
        self.write_bytes(name, text.encode("utf-8"))

    def write_bytes(self, name: str, data: bytes, *, inside: str | None = None) -> None:
        """``name`` (inside the subfolder ``inside``, made if missing)."""
        self.bytes += len(data)
        if self.lock is None:
            self._write(name, inside, data)
            return
        self._pending.append((name, inside, data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered (holding the lock)."""
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        with self.lock:
            for name, inside, data in pending:
                self._write(name, inside, data)

    def _write(self, name: str, inside: str | None, data: bytes) -> None:
        if inside is not None:
            try:
                os.mkdir(self._prefix + inside, dir_fd=self._fd)
            except FileExistsError:
                pass
            name = f"{inside}/{name}"
        fd = os.open(self._prefix + name, _FLAGS, 0o644, dir_fd=self._fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def close(self) -> None:
        """Write what is buffered and release the folder."""
        try:
            self.flush()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
