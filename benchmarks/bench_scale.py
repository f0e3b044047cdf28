"""The offline build's slope: wall time and peak memory at 10,000, 100,000 and 1,000,000 rows.

The rows are ``bench_site.py``'s 100k generator, split into CSVs of 10,000
rows each (1,000,000 rows: 100 CSVs, as issue 13 has it). Each size is built
twice by ``bench_site.run_build``: once timed alone, once with the PSS of the
whole process tree (forked page writers included) sampled every 50 ms. Every
build starts after ``sync`` and, as root, with the page cache dropped: the
previous build's gigabytes of dirty pages otherwise double the next one's
system time.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_site import run_build, write_csv_tree  # noqa: E402

PER_CSV = 10_000


def settle() -> None:
    subprocess.run(["sync"], check=False)
    if os.geteuid() == 0:
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError:
            pass


def measure(work: Path, rows: int) -> dict[str, object]:
    csv_dir = work / f"csv-{rows}"
    if not (csv_dir / "submissions.csv").is_file():
        write_csv_tree(csv_dir, rows, per_csv=PER_CSV)
    out = work / f"site-{rows}"
    shutil.rmtree(out, ignore_errors=True)
    settle()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_build(["build", str(csv_dir / "submissions.csv"), "--out", str(out), "--offline", "--no-cache", "-q"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    csvs = len(list(csv_dir.glob("*.csv"))) - 1
    # Both runs' CPU (the timed one and the sampled one): half of it is one build's.
    result["cpu_seconds_per_build"] = round(((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / 2, 1)
    result.update(rows=rows, csvs=csvs)
    shutil.rmtree(out, ignore_errors=True)
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
