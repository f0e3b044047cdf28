"""``ngff-catalog check``: the contributor's and the PR check's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import main
from generator.dev.samples import ChannelSpec, gradient, write_image
from tests.conftest import new_git_repo, run_git, start_static_server


@pytest.fixture
def hosts(tmp_path: Path):
    cors_root, nocors_root = tmp_path / "cors", tmp_path / "nocors"
    cors_root.mkdir()
    nocors_root.mkdir()
    write_image(cors_root / "good.zarr", gradient((2, 200, 200)), version="0.5",
                channels=[ChannelSpec("a", "FF0000", 0, 50000), ChannelSpec("b", "00FF00", 0, 50000)])
    bad = cors_root / "bad.zarr"
    bad.mkdir()
    (bad / ".zattrs").write_text(json.dumps({"multiscales": [{"version": "0.4", "datasets": [{"path": "0"}]}]}))
    (bad / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    write_image(nocors_root / "private.zarr", gradient((1, 64, 64), "uint8"), version="0.4")
    s1, info1 = start_static_server(cors_root)
    s2, info2 = start_static_server(nocors_root, cors=False)
    try:
        yield info1, info2
    finally:
        s1.stop()
        s2.stop()


def test_valid_dataset_passes_with_a_thumbnail(hosts, tmp_path: Path, capsys) -> None:
    cors, _ = hosts
    summary = tmp_path / "summary.md"
    code = main(["check", "--allow-private-addresses", cors.url_for("good.zarr"), "--out", str(tmp_path / "out"), "--summary", str(summary)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS" in out and "image" in out and "0.5" in out
    thumbs = list((tmp_path / "out" / "thumbnails").glob("*-256.*"))
    assert thumbs, "the thumbnail is written next to the output"
    md = summary.read_text()
    assert "| verdict |" in md and "PASS" in md and "data:image/png;base64," in md


def test_invalid_dataset_fails_with_the_json_path(hosts, tmp_path: Path, capsys) -> None:
    cors, _ = hosts
    code = main(["check", "--allow-private-addresses", cors.url_for("bad.zarr"), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "axes" in out


def test_unreachable_dataset_fails(hosts, tmp_path: Path, capsys) -> None:
    cors, _ = hosts
    code = main(["check", "--allow-private-addresses", cors.url_for("nothing-here.zarr"), "--out", str(tmp_path / "out"), "--timeout", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "404" in out


def test_no_cors_is_reported_but_not_fatal(hosts, tmp_path: Path, capsys) -> None:
    _, nocors = hosts
    code = main(["check", "--allow-private-addresses", nocors.url_for("private.zarr"), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    row = next(line for line in out.splitlines() if "private.zarr" in line)
    assert " NO " in f" {row} "


def test_changed_checks_only_added_rows(hosts, tmp_path: Path, capsys, monkeypatch) -> None:
    cors, _ = hosts
    repo = new_git_repo(tmp_path / "repo")
    csv = repo / "submissions.csv"
    # The base lists a broken dataset; the change adds a good one.
    csv.write_text(f"url\n{cors.url_for('bad.zarr')}\n", encoding="utf-8")
    run_git(repo, "add", ".")
    run_git(repo, "commit", "-q", "-m", "base")
    csv.write_text(f"url\n{cors.url_for('bad.zarr')}\n{cors.url_for('good.zarr')}\n", encoding="utf-8")
    monkeypatch.chdir(repo)
    code = main(["check", "--allow-private-addresses", "--changed", "HEAD", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "good.zarr" in out and "bad.zarr" not in out

    # Nothing changed: nothing to check, and that passes.
    run_git(repo, "commit", "-qam", "add good")
    code = main(["check", "--allow-private-addresses", "--changed", "HEAD", "--out", str(tmp_path / "out")])
    assert code == 0
    assert "no dataset rows" in capsys.readouterr().out


def test_changed_follows_an_added_child_csv(hosts, tmp_path: Path, capsys, monkeypatch) -> None:
    cors, _ = hosts
    repo = new_git_repo(tmp_path / "repo")
    (repo / "old.csv").write_text(f"url\n{cors.url_for('bad.zarr')}\n", encoding="utf-8")
    (repo / "new.csv").write_text(f"url\n{cors.url_for('good.zarr')}\n", encoding="utf-8")
    root = repo / "submissions.csv"
    root.write_text("source,url\nOld,old.csv\n", encoding="utf-8")
    run_git(repo, "add", ".")
    run_git(repo, "commit", "-q", "-m", "base")
    # The change only adds a row linking an existing child CSV: its datasets are checked.
    root.write_text('source,url\nOld,old.csv\n"New", new.csv\n', encoding="utf-8")
    monkeypatch.chdir(repo)
    code = main(["check", "--allow-private-addresses", "--changed", "HEAD", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "good.zarr" in out and "bad.zarr" not in out
