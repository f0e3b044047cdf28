"""``ngff-catalog check`` against hostile submissions (issue 10, cases 11 and 12).

The PR check must see every row a change adds, whatever the CSV is called
and however its lines end, and nothing a dataset provides may start a line
of its output or break a cell of the job summary's table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator.check import HEADERS
from generator.cli import main
from generator.dev.samples import gradient, write_image
from tests.conftest import new_git_repo, run_git, start_static_server

INJECTED_HEADING = "a\r# INJECTED HEADING"
INJECTED_COMMAND = "\n::error title=Injected::pwned"


@pytest.fixture
def host(tmp_path: Path):
    """good.zarr and other.zarr pass; bad.zarr is invalid; evil.zarr carries CR and LF in its axis names."""
    root = tmp_path / "www"
    root.mkdir()
    write_image(root / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.4")
    write_image(root / "other.zarr", gradient((1, 80, 60), "uint8"), version="0.5")
    bad = root / "bad.zarr"
    bad.mkdir()
    (bad / ".zattrs").write_text(json.dumps({"multiscales": [{"version": "0.4", "datasets": [{"path": "0"}]}]}))
    (bad / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    write_image(root / "evil.zarr", gradient((1, 64, 64), "uint8"), version="0.4")
    attrs = json.loads((root / "evil.zarr" / ".zattrs").read_text())
    axes = attrs["multiscales"][0]["axes"]
    axes[0]["name"] = INJECTED_HEADING
    axes.append({"name": INJECTED_COMMAND + "|x", "type": "space"})  # one axis too many: an error quotes them
    (root / "evil.zarr" / ".zattrs").write_text(json.dumps(attrs))
    server, info = start_static_server(root)
    try:
        yield info
    finally:
        server.stop()


def _commit(repo: Path, message: str) -> None:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))  # bytes: line ends exactly as given
    return path


def _check_changed(repo: Path, tmp_path: Path, capsys, monkeypatch, base: str = "HEAD") -> tuple[int, str]:
    monkeypatch.chdir(repo)
    code = main(["check", "--allow-private-addresses", "--changed", base, "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().out


def _checked(out: str) -> set[str]:
    """The dataset names in the verdict table."""
    return set(re.findall(r"^(?:PASS|FAIL)\s+\S+/([\w.-]+\.zarr)\s", out, re.M))


def test_changed_sees_rows_in_csvs_named_with_spaces_and_non_ascii(host, tmp_path: Path, capsys, monkeypatch) -> None:
    repo = new_git_repo(tmp_path / "repo")
    _write(repo / "submissions.csv", "url\nsub dir/child.csv\nünï.csv\n")
    _write(repo / "sub dir" / "child.csv", f"url\n{host.url_for('bad.zarr')}\n")
    _write(repo / "ünï.csv", f"url\n{host.url_for('bad.zarr')}\n")
    _commit(repo, "base")
    # The change adds a row to each: git would print both names quoted or split them.
    _write(repo / "sub dir" / "child.csv", f"url\n{host.url_for('bad.zarr')}\n{host.url_for('good.zarr')}\n")
    _write(repo / "ünï.csv", f"url\n{host.url_for('bad.zarr')}\n{host.url_for('other.zarr')}\n")
    code, out = _check_changed(repo, tmp_path, capsys, monkeypatch)
    assert _checked(out) == {"good.zarr", "other.zarr"}, out
    assert code == 0, out
    assert len(list((tmp_path / "out" / "thumbnails").glob("*-256.*"))) == 2, "both added datasets get a thumbnail"


def test_changed_sees_rows_added_to_a_renamed_csv(host, tmp_path: Path, capsys, monkeypatch) -> None:
    repo = new_git_repo(tmp_path / "repo")
    listed = f"url,note\n{host.url_for('bad.zarr')},{'a long note that makes the move a rename. ' * 40}\n"
    _write(repo / "old name.csv", listed)
    _commit(repo, "base")
    (repo / "old name.csv").unlink()
    _write(repo / "moved" / "Ränamed.CSV", listed + f"{host.url_for('good.zarr')},\n")
    _commit(repo, "move and add a row")  # as a pull request's checkout has it
    code, out = _check_changed(repo, tmp_path, capsys, monkeypatch, base="HEAD~1")
    # Git sees a rename; the check sees a new file, every row of it checked.
    assert _checked(out) == {"bad.zarr", "good.zarr"}, out
    assert code == 1
    assert re.search(r"^PASS\s+\S+/good\.zarr\s", out, re.M)


def test_changed_counts_lines_as_the_csv_reader_does(host, tmp_path: Path, capsys, monkeypatch) -> None:
    repo = new_git_repo(tmp_path / "repo")
    csv = _write(repo / "submissions.csv", f"url,note\n{host.url_for('bad.zarr')},old\n")
    _commit(repo, "base")
    # A lone CR in a quoted cell: the CSV reader counts one more line than git,
    # and the text after it looks like a hunk header that names line 2.
    _write(
        csv,
        f"url,note\n{host.url_for('bad.zarr')},old\n"
        f'{host.url_for("good.zarr")},"x\r@@ -1 +2 @@"\n'
        f"{host.url_for('other.zarr')},new\n",
    )
    code, out = _check_changed(repo, tmp_path, capsys, monkeypatch)
    assert _checked(out) == {"good.zarr", "other.zarr"}, out
    assert code == 0, out


def test_changed_header_rechecks_every_row(host, tmp_path: Path, capsys, monkeypatch) -> None:
    repo = new_git_repo(tmp_path / "repo")
    body = f"{host.url_for('good.zarr')},{host.url_for('bad.zarr')}\n{host.url_for('other.zarr')},{host.url_for('good.zarr')}\n"
    csv = _write(repo / "submissions.csv", "url,mirror\n" + body)
    _commit(repo, "base")
    # Only the header changes, and with it the dataset every row names.
    _write(csv, "mirror,url\n" + body)
    code, out = _check_changed(repo, tmp_path, capsys, monkeypatch)
    assert _checked(out) == {"bad.zarr", "good.zarr"}, out
    assert code == 1
    assert re.search(r"^PASS\s+\S+/good\.zarr\s", out, re.M), "the good dataset still passes beside the bad one"


def _markdown_cells(line: str) -> list[str]:
    """A GFM table row's cells: split on "|" that no backslash escapes."""
    cells, cell, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if escaped:
            cell, escaped = cell + "\\" + char, False
        elif char == "\\":
            escaped = True
        elif char == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += char
    return [*cells, cell]


def test_check_output_holds_no_line_or_cell_a_dataset_wrote(host, tmp_path: Path, capsys) -> None:
    child = _write(tmp_path / "child.csv", f'name,"{INJECTED_HEADING}","{INJECTED_COMMAND}"\n{host.url_for("good.zarr")}\n')
    root = _write(
        tmp_path / "submissions.csv",
        f"url\n{host.url_for('good.zarr')}\n{host.url_for('evil.zarr')}\n{child.name}\n",
    )
    summary = tmp_path / "summary.md"
    code = main(["check", "--allow-private-addresses", str(root), "--out", str(tmp_path / "out"), "--summary", str(summary)])
    out = capsys.readouterr().out
    assert code == 1, out

    # The hostile text is shown, as visible escapes, on lines that start with words of ours.
    assert "\\n::error title=Injected::pwned|x" in out, "the axis names are quoted in an error"
    # Harvested text was cleaned where it entered (CR made a line break), the CSV header was not.
    assert "a\\n# INJECTED HEADING" in out, "the axis name, escaped"
    assert out.count("a\\r# INJECTED HEADING") == 1, "and the child CSV's header in its row error"
    assert "\r" not in out
    for line in out.split("\n"):
        assert not line.lstrip().startswith(("::", "#")), line
    assert re.search(r"^PASS\s+\S+/good\.zarr\s.*\syes$", out, re.M), "the good dataset passes with a thumbnail"
    assert re.search(r"^FAIL\s+\S+/evil\.zarr\s", out, re.M)

    md = summary.read_text(encoding="utf-8")
    assert "\r" not in md
    lines = md.split("\n")
    assert [line for line in lines if line.startswith("#")] == ["## ngff-catalog check"]
    assert not any(line.lstrip().startswith("::") for line in lines)
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 2, "header, rule and one row per dataset"
    assert all(len(_markdown_cells(line)) == len(HEADERS) + 1 for line in table), table
    assert "INJECTED HEADING" in md and "Injected::pwned" in md, "the hostile text is reported, inert"
    good_row = next(line for line in table if "good.zarr" in line)
    assert _markdown_cells(good_row)[0].strip() == "PASS" and "data:image/png;base64," in good_row
