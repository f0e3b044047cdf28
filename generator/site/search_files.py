"""Many small files into one folder: the search index's card chunks and term nodes."""

from __future__ import annotations

import os
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
# Paths relative to an open directory where the OS allows it: no walk from "/"
# for each of 250,000 files (a 1,000,000-row catalog's card chunks).
_RELATIVE = os.open in os.supports_dir_fd


class Folder:
    """Writes UTF-8 text files into ``path`` (which exists); ``close`` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if _RELATIVE else None
        self._prefix = "" if _RELATIVE else f"{path}{os.sep}"

    def write(self, name: str, text: str) -> None:
        data = memoryview(text.encode("utf-8"))
        fd = os.open(self._prefix + name, _FLAGS, 0o666, dir_fd=self._fd)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
