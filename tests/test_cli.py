"""The ``build`` command's contract: exit codes, --strict, --quiet, the summary, the progress display."""

from __future__ import annotations

import io
import json
import re
from html import unescape
from pathlib import Path

import pytest

from generator.cli import main
from generator.dev.samples import gradient, write_image
from generator.progress import Progress


def _site(static_server, tmp_path: Path) -> Path:
    write_image(static_server.root / "ok.zarr", gradient((1, 64, 64), "uint8"), version="0.4")
    csv = tmp_path / "s.csv"
    csv.write_text(f"url\n{static_server.url_for('ok.zarr')}\n{static_server.url_for('gone.zarr')}\n", encoding="utf-8")
    return csv


def test_build_exits_0_with_failures_and_1_with_strict(static_server, tmp_path: Path, capsys) -> None:
    csv = _site(static_server, tmp_path)
    out = tmp_path / "site"
    assert main(["build", "--allow-private-addresses", str(csv), "--out", str(out), "--no-cache", "--timeout", "3"]) == 0
    printed = capsys.readouterr()
    assert "datasets" in printed.out and "unreachable" in printed.out  # the final summary table
    assert "harvest" in printed.err  # progress with counts per stage
    report = json.loads((out / "report.json").read_text())
    assert any("gone.zarr" in json.dumps(item) for item in report.values() if isinstance(item, list))

    assert main(["build", "--allow-private-addresses", str(csv), "--out", str(out), "--no-cache", "--strict", "-q"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert "--strict: 1 datasets failed" in printed.err


def test_unusable_input_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["build", "--allow-private-addresses", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "site"), "--no-cache"]) == 2
    assert "no datasets could be read" in capsys.readouterr().err


def test_progress_is_plain_in_logs_with_rate_and_eta() -> None:
    stream = io.StringIO()  # not a TTY: one plain line per update, no control codes
    progress = Progress(stream=stream, interval=0)
    progress.start("harvest", 4)
    for outcome in ("ok", "ok", "invalid", "ok"):
        progress.advance(outcome)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\033" not in stream.getvalue()
    assert lines[-1].startswith("harvest") and "4/4 (100%)" in lines[-1]
    assert "/s" in lines[-1] and "ETA" in lines[-1] and "invalid 1, ok 3" in lines[-1]


def test_default_cache_is_one_state_per_root_csv(tmp_path: Path, monkeypatch) -> None:
    from generator.config import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a, b = default_cache_dir("a/submissions.csv"), default_cache_dir("b/submissions.csv")
    assert a != b and a.parent == b.parent == tmp_path / "ngff-catalog"
    assert default_cache_dir("https://example.org/s.csv") == default_cache_dir("https://example.org/s.csv")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_live_bar_on_a_terminal() -> None:
    stream = _Terminal()
    progress = Progress(stream=stream)
    progress.log("sources: 4 datasets from 1 CSV files")
    progress.start("harvest", 4)
    for outcome in ("ok", "ok", "invalid", "ok"):
        progress.advance(outcome)
    progress.finish()
    progress.log("site: writing out")
    shown = stream.getvalue()
    assert "\r" in shown and "\033[" in shown, "the bar is redrawn in place"
    frames = [re.sub(r"\033\[[0-9;?]*[A-Za-z]", "", f) for f in re.split(r"[\r\n]", shown)]
    final = [f for f in frames if f.startswith("harvest")][-1]
    assert "4/4" in final and "100%" in final and "/s" in final and "invalid 1, ok 3" in final
    assert "sources: 4 datasets from 1 CSV files" in frames and "site: writing out" in frames


def test_summary_and_site_print_sizes_in_the_same_units(tmp_path: Path, capsys) -> None:
    from generator.site.format import format_bytes

    csv = tmp_path / "s.csv"
    csv.write_text(
        "url,source,written\nhttps://example.org/a.zarr,Lab A,123456\nhttps://example.org/b.zarr,Lab A,2000000\n",
        encoding="utf-8",
    )
    out = tmp_path / "site"
    assert main(["build", "--allow-private-addresses", str(csv), "--out", str(out), "--offline", "--no-cache"]) == 0
    total = format_bytes(2123456)
    assert total == "2.0 MiB"  # KiB of 1024, not kB of 1000
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Lab A"))
    assert row.split()[-2:] == total.split()
    panel = re.search(r'<span class="source-stats">(.*?)</span>', (out / "index.html").read_text()).group(1)
    assert unescape(panel).endswith(f"· {total}")


def test_max_rows_caps_the_rows_a_build_reads_and_raises_the_default(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("url\n" + "".join(f"https://example.org/d{i}.zarr\n" for i in range(5)), encoding="utf-8")

    def urls(out: Path) -> list[str]:
        return [d["url"] for d in json.loads((out / "catalog.json").read_text())["datasets"]]

    assert main(["build", str(csv), "--out", str(tmp_path / "capped"), "--offline", "--no-cache", "-q", "--max-rows", "3"]) == 0
    assert sorted(urls(tmp_path / "capped")) == [f"https://example.org/d{i}.zarr" for i in range(3)]
    report = json.loads((tmp_path / "capped" / "report.json").read_text())
    assert any("more than 3 listed rows in this build (--max-rows)" in e["message"] for e in report["row_errors"])

    assert main(["build", str(csv), "--out", str(tmp_path / "all"), "--offline", "--no-cache", "-q", "--max-rows", "5"]) == 0
    assert len(urls(tmp_path / "all")) == 5

    with pytest.raises(SystemExit) as exit_:
        main(["build", str(csv), "--out", str(tmp_path / "x"), "--offline", "--max-rows", "0"])
    assert exit_.value.code == 2
    assert "--max-rows: must be at least 1: '0'" in capsys.readouterr().err
