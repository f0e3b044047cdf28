"""One submission CSV parsed three ways, CPU per row: the stdlib's C reader alone,
the sources stage's ``parse_csv_text`` (the reader plus the header, caps and
per-row cells), and pandas' C parser (alone, and with the per-row mappings the
walk needs). Issue 13 asked for pandas' C parser; this is what decided it.

    .venv/bin/python benchmarks/bench_csv_parsers.py /tmp/bench-scale/csv-100000/crick.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from generator.sources.rows import parse_csv_text


def best_us_per_row(fn: Callable[[], Any], rows: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return round(best / rows * 1e6, 2)


def _pandas(text: str) -> pd.DataFrame:
    # Every cell a string, nothing read as NaN, blank lines kept (the walk reports file:line).
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, engine="c", skip_blank_lines=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", type=Path, help="a submission CSV (bench_scale.py writes them)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    text = args.csv.read_text(encoding="utf-8")
    rows = text.count("\n")
    timings = {
        "csv.reader": lambda: list(csv.reader(io.StringIO(text, newline=""))),
        "parse_csv_text": lambda: parse_csv_text(text, str(args.csv)),
        "pandas read_csv (C)": lambda: _pandas(text),
        "pandas read_csv (C) + to_dict('records')": lambda: _pandas(text).to_dict("records"),
    }
    print(json.dumps({"rows": rows, **{k: best_us_per_row(fn, rows, args.rounds) for k, fn in timings.items()}}))


if __name__ == "__main__":
    main()
