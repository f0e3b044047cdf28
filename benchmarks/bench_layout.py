"""What the filesystem charges for the dataset pages' layout, apart from making them.

A site has a folder and a file per dataset (``datasets/<id>/index.html``, issue
4's layout), so a large offline build spends much of its time in the kernel.
This writes ``--pages`` pages of the same bytes, the way ``site/folder.py``
writes them (``mkdir``, ``open``, ``write``, ``close`` relative to an open
folder), in one process, for each layout and page size asked for, and
reports the process's user and system time and the whole machine's CPU time
(which includes the kernel's writeback threads) until ``sync`` returns.

    .venv/bin/python benchmarks/bench_layout.py --pages 100000 --work /tmp/bench-layout

The variants take turns (``--rounds``): how fast ext4 creates files drifts
with the state of the disk, so a single run of each says little. Each
variant writes into a folder of its own, and nothing is deleted until
the end: a deletion makes ext4 allocate inodes slower for minutes after
(see ``bench_scale.py``), which would charge one variant for another's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def machine_cpu() -> float:
    """Seconds of CPU the whole machine has spent (all cores, not idle or waiting)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def write_pages(folder: Path, ids: list[str], page: bytes, layout: str) -> None:
    folder.mkdir(parents=True)
    fd_dir = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in ids:
            if layout == "folder":
                os.mkdir(i, dir_fd=fd_dir)
                name = f"{i}/index.html"
            else:
                name = f"{i}.html"
            fd = os.open(name, FLAGS, 0o644, dir_fd=fd_dir)
            try:
                os.write(fd, page)
            finally:
                os.close(fd)
    finally:
        os.close(fd_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--sizes", default="8300", help="page sizes in bytes (8,300: a benchmark dataset page)")
    ap.add_argument("--rounds", type=int, default=2, help="the variants in turn, this many times (the disk's state drifts)")
    ap.add_argument("--layouts", default="folder,flat", help="folder: datasets/<id>/index.html; flat: datasets/<id>.html")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-layout"))
    ap.add_argument("--keep", action="store_true", help="leave the pages in --work")
    args = ap.parse_args()
    ids = [hashlib.sha256(f"https://example.org/{n}.ome.zarr".encode()).hexdigest()[:16] for n in range(args.pages)]
    if args.work.exists():
        raise SystemExit(f"{args.work} exists: give a new folder (a deletion just before would skew the figures)")
    print(f"{args.pages:,} pages a variant; CPU seconds per 1,000,000 pages (machine: all cores, writeback included)")
    print(f"{'layout':8s} {'bytes':>6s} {'wall':>7s} {'user':>7s} {'system':>7s} {'machine':>8s}")
    scale = 1_000_000 / args.pages
    variants = [(layout, int(size)) for layout in args.layouts.split(",") for size in args.sizes.split(",")]
    for round_ in range(args.rounds):
        for layout, size in variants:
            page = (b"<p>" + b"x" * size)[:size]
            subprocess.run(["sync"], check=True)
            t0, m0, c0 = time.perf_counter(), machine_cpu(), os.times()
            write_pages(args.work / f"{layout}-{size}-{round_}", ids, page, layout)
            c1 = os.times()
            subprocess.run(["sync"], check=True)
            wall, machine = time.perf_counter() - t0, machine_cpu() - m0
            user, system = c1.user - c0.user, c1.system - c0.system
            print(f"{layout:8s} {size:6d} {wall * scale:6.1f}s {user * scale:6.1f}s {system * scale:6.1f}s {machine * scale:7.1f}s",
                  flush=True)
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
