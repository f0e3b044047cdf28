"""The offline build of this checkout against another checkout's, in alternating rounds.

Issue 9's bar is "no worse than the code before the redesign"; a single pair
of runs says little on a machine whose speed drifts by a third within the
hour, so the two codes take turns (old first in odd rounds, new first in
even ones). Each build starts with the previous output removed, ``sync``,
a pause and, as root, the page cache dropped: a build right after 100,000
page folders were deleted pays for ext4's inode allocator checking each
recently freed inode. Both codes run in this venv; the other checkout is put
first on ``PYTHONPATH``. Reported per build: wall, user and system seconds
and the peak PSS summed over the process tree (``bench_scale.timed_build``).

    git worktree add /tmp/old 850ec6d
    .venv/bin/python benchmarks/bench_ab.py --other /tmp/old --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scale import settle, timed_build  # noqa: E402
from bench_site import write_csv_tree  # noqa: E402

FIELDS = ("seconds", "user_seconds", "system_seconds", "peak_pss_tree_mib")


def build_once(code: Path, csv: Path, out: Path, pause: float) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    settle()
    time.sleep(pause)
    settle()
    os.environ["PYTHONPATH"] = str(code)  # the child process imports this checkout's generator
    try:
        return timed_build(["build", str(csv), "--out", str(out), "--offline", "--no-cache", "-q"])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--other", type=Path, required=True, help="the other checkout (e.g. a worktree of the old code)")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pause", type=float, default=65.0, help="seconds between a deletion and the next build")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-ab"))
    args = ap.parse_args()
    csv = args.work / "csv" / "submissions.csv"
    if not csv.is_file():
        write_csv_tree(csv.parent, args.rows)
    codes = {"old": args.other.resolve(), "new": HERE.parent}
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
            result = build_once(codes[label], csv, args.work / f"site-{label}", args.pause)
            runs[label].append(result)
            print(json.dumps({"round": r + 1, "code": label, **{k: round(result[k], 1) for k in FIELDS}}), flush=True)
    summary = {label: {k: round(statistics.median(x[k] for x in rs), 1) for k in FIELDS} for label, rs in runs.items()}
    print(json.dumps({"median": summary}, indent=1))


if __name__ == "__main__":
    main()
