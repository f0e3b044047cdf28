"""The site's staging folder beside ``--out`` and the swap that puts it in place.

The site is written into ``.<name>.tmp-<pid>`` beside the output folder (on
its file system) and exchanged with it in one step where the system can, so
a build killed at any point leaves the previous site complete; what killed
builds left behind is cleaned up by the next one (``remove_leftovers``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
from pathlib import Path

# Staging folders beside --out: ".<name>.tmp-<pid>" is a site being written
# (or, after the swap, the old one being removed); ".<name>.old-<pid>" is the
# previous site set aside where folders cannot be exchanged in one step.
STAGING_PATTERN = r"\.{name}\.(tmp|old)-\d+"
AT_FDCWD, RENAME_EXCHANGE = -100, 2  # from Linux' fcntl.h and fs.h, for renameat2


def get_staging_path(out: Path, kind: str = "tmp") -> Path:
    """The folder this process writes the site into: beside ``out``, so on its file system."""
    return out.parent / f".{out.name}.{kind}-{os.getpid()}"


def remove_leftovers(out: Path) -> None:
    """Remove the staging folders of killed builds; put back a previous site set aside
    by one killed between its two renames (``_rename_over``)."""
    pattern = re.compile(STAGING_PATTERN.format(name=re.escape(out.name)))
    leftovers = sorted(p for p in out.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir())
    for path in leftovers:
        if not out.exists() and ".old-" in path.name:
            os.rename(path, out)  # the complete previous site
        else:
            shutil.rmtree(path, ignore_errors=True)


def swap_in(staging: Path, out: Path) -> None:
    """Make the complete site in ``staging`` the one at ``out``; the old one ends up at ``staging``.

    Where the system can exchange two folders in one step (Linux'
    renameat2 RENAME_EXCHANGE), ``out`` is never missing, not even for an
    instant: a web server serving it sees the old site, then the new one.
    Elsewhere two renames leave it missing between two rename(2) calls on
    one file system, with no file data moved: microseconds.
    """
    if not out.exists():
        os.rename(staging, out)
    elif not _exchange(staging, out):
        _rename_over(staging, out)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (renameat2 with RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not Linux, or a C library without it
        return False
    here = ctypes.c_int(AT_FDCWD)
    if renameat2(here, os.fsencode(a), here, os.fsencode(b), ctypes.c_uint(RENAME_EXCHANGE)) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a kernel or file system without it
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _rename_over(staging: Path, out: Path) -> None:
    """The two-step swap: the old site aside, the new one in. A build killed between
    the two leaves the old site aside, and the next one puts it back first."""
    aside = get_staging_path(out, "old")
    os.rename(out, aside)
    os.rename(staging, out)
    os.rename(aside, staging)  # removed by the caller, as the exchange leaves it

