"""The offline build's slope: wall time and peak memory at 10,000, 100,000 and 1,000,000 rows.

The rows are ``bench_site.py``'s 100k generator, split into CSVs of 10,000
rows each (1,000,000 rows: 100 CSVs, as issue 13 has it). Each size is built
once, timed, while a thread sums the PSS of the whole process tree (forked
page writers included; each shared page split between its sharers) from
``/proc/PID/smaps_rollup`` every second: far cheaper than psutil's full
``smaps`` walk, which slowed a 100k build threefold. Every build starts after
``sync`` and, as root, with the page cache dropped: the previous build's
gigabytes of dirty pages otherwise double the next one's system time.

A site is deleted only before the next build of its size, and then the build
waits ``QUIET`` seconds: this machine's ext4 has no journal, and then its inode
allocator skips every inode freed in the last 60 seconds (``recently_deleted``
in ``fs/ext4/ialloc.c``), or 360 while its inode-table block is dirty (as
the new files make it), looking each one's table block up to find that out,
from the start of the group on every allocation. Right after a 1,000,000-page
site is deleted, creating a file costs several times its usual system time
(``perf record -a`` shows ``recently_deleted`` and ``find_get_block_common``
on top); a CI runner builds on a fresh disk, where nothing was just deleted.
Sites are kept in ``--work`` until the next run.

    .venv/bin/python benchmarks/bench_scale.py --rows 10000,100000,1000000 --work /tmp/bench-scale
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from bench_site import write_csv_tree  # noqa: E402

PER_CSV = 10_000
QUIET = 400  # seconds after a deletion (and a sync) before a timed build: see the docstring


def settle() -> None:
    subprocess.run(["sync"], check=False)
    if os.geteuid() == 0:
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError:
            pass


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the forked page writers)."""
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return [pid]


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def timed_build(args: list[str]) -> dict[str, float]:
    peak = {"pss": 0, "rss": 0}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "generator", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            peak["pss"] = max(peak["pss"], sum(_kib(p, "Pss") for p in _tree(proc.pid)))
            peak["rss"] = max(peak["rss"], _kib(proc.pid, "Rss"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0].decode(errors="replace")
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}):\n{output}")
    return {
        "seconds": seconds,
        "user_seconds": after.ru_utime - before.ru_utime,
        "system_seconds": after.ru_stime - before.ru_stime,
        "peak_pss_tree_mib": peak["pss"] / 1024,
        "peak_rss_parent_mib": peak["rss"] / 1024,
    }


def measure(work: Path, rows: int) -> dict[str, object]:
    csv_dir = work / f"csv-{rows}"
    if not (csv_dir / "submissions.csv").is_file():
        write_csv_tree(csv_dir, rows, per_csv=PER_CSV)
    out = work / f"site-{rows}"
    if out.exists():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(["sync"], check=False)
        time.sleep(QUIET)
    settle()
    result: dict[str, object] = {"rows": rows, "csvs": len(list(csv_dir.glob("*.csv"))) - 1}
    # --max-rows: past 200,000 listed rows (datasets and CSV links) a build stops reading.
    result.update(timed_build(["build", str(csv_dir / "submissions.csv"), "--out", str(out), "--offline", "--no-cache", "-q",
                               "--max-rows", str(rows + 10_000)]))
    result["pages"] = sum(1 for _ in os.scandir(out / "datasets"))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="10000,100000,1000000", help="comma-separated catalog sizes")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-scale"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for rows in (int(n) for n in args.rows.split(",")):
        r = measure(args.work, rows)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}), flush=True)


if __name__ == "__main__":
    main()
