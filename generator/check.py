"""``ngff-catalog check``: a per-dataset verdict for contributors and the PR check.

Runs the same stages as a build (sources, harvest, validate, thumbnails) on
the given URLs or CSVs, or, with ``--changed BASE_REF``, on the submission
rows a git diff added or changed, and prints what a provider needs to know:
reachable, CORS, kind and version, validation errors, thumbnail.
"""

from __future__ import annotations

import base64
import bisect
import io
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from generator.config import DATASET_SECONDS, PLATE_WELLS, ThumbnailConfig
from generator.fetch.hosts import HOST_FAILURE_LIMIT
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest
from generator.history import decide_status
from generator.progress import format_table
from generator.records import Dataset, Entry, RowError
from generator.sources.read import get_entries
from generator.sources.rows import parse_csv_text
from generator.object_urls import get_env_endpoint
from generator.sources.urls import UrlError, is_csv_reference, parse_dataset_url, parse_endpoint
from generator.thumbnails.make import make_thumbnails
from generator.validate import STRICT_ADVICE, validate

HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
# A contributor's git settings (colour, external diff tools, rename detection)
# must not change the output parsed here.
DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-renames")
# What must not reach a log or a job summary as itself: C0 and C1 controls
# (CR and LF end a line, and GitHub reads a line starting "::" as a workflow
# command), DEL, Unicode line and paragraph separators, bidirectional
# overrides (they reorder what a reviewer sees) and lone surrogates (they
# cannot be encoded).
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Markdown that could end a table cell or turn text into markup, links or
# HTML: each is backslash-escaped.
MARKDOWN_SPECIAL = re.compile(r"([\\|`*_\[\]<>~$&])")


@dataclass(frozen=True)
class CheckOptions:
    targets: tuple[str, ...] = ()
    changed: str | None = None
    out: Path = Path("check-output")
    summary: Path | None = None
    thumbnails: bool = True
    concurrency: int = 32
    per_host: int = 8
    timeout: float = 20.0
    dataset_seconds: float = DATASET_SECONDS
    host_failures: int = HOST_FAILURE_LIMIT
    allow_private_addresses: bool = False
    url_map: tuple[tuple[str, str], ...] = ()
    thumbnail: ThumbnailConfig = field(default_factory=ThumbnailConfig)
    verbose: int = 0
    repo: Path = Path(".")
    plate_wells: int | None = PLATE_WELLS


@dataclass(frozen=True)
class Verdict:
    dataset: Dataset

    @property
    def reachable(self) -> bool:
        return self.dataset.status != "unreachable"

    @property
    def passed(self) -> bool:
        return self.dataset.status == "ok"

    @property
    def thumbnail(self) -> str | None:
        return self.dataset.thumbnail.card if self.dataset.thumbnail else None


def get_changed_rows(base_ref: str, repo: Path) -> dict[Path, set[int]]:
    """CSV files changed since ``base_ref`` and the line numbers added or changed in each.

    Git's output is read NUL-separated and its paths used literally, so a file
    named ``sub dir/child.csv`` or ``ünï.csv`` (which git would otherwise quote)
    is checked like any other; renames count as additions, so moving a CSV
    while adding a row to it cannot hide the row.
    """
    top = Path(os.fsdecode(_git(repo, "rev-parse", "--show-toplevel").removesuffix(b"\n")))
    listed = _git(repo, "diff", *DIFF_OPTIONS, "--name-only", "-z", "--diff-filter=AM", base_ref, "--", ":(top,icase)*.csv")
    changed: dict[Path, set[int]] = {}
    for name in (os.fsdecode(n) for n in listed.split(b"\0") if n):
        lines: set[int] = set()
        diff = _git(repo, "diff", *DIFF_OPTIONS, "--unified=0", base_ref, "--", f":(top,literal){name}")
        # Split on LF only: a CR or other line break inside a CSV cell must not
        # start a line that looks like a hunk header.
        for row in diff.split(b"\n"):
            m = HUNK.match(row)
            if m:
                start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
                # A deletion (count 0, after line ``start``) changes the rows around it.
                lines.update(range(start, start + count) if count else (start, start + 1))
        if lines:
            changed[(top / name).resolve()] = lines
    return changed


def _git(repo: Path, *args: str) -> bytes:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True)
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").strip()
        raise RuntimeError(f"git {' '.join(args)} failed: {stderr}")
    return done.stdout


def get_changed_csv_lines(text: str, git_lines: set[int]) -> set[int]:
    """The lines of a CSV to check, numbered as ``parse_csv_text`` numbers its rows.

    Git counts lines by LF, the CSV reader also ends one at a lone CR: the
    numbers are translated. A row is changed when any of its lines is (a
    quoted cell may span lines), and every row is when the header (or, with
    none, the first row) or a line above it changed, as that decides what
    each column means.
    """
    starts = [1]  # where each git line begins, in CSV lines
    for segment in text.split("\n"):
        starts.append(starts[-1] + 1 + segment.count("\r") - segment.endswith("\r"))
    changed = sorted({n for g in git_lines if 0 < g < len(starts) for n in range(starts[g - 1], starts[g])})
    rows, _ = parse_csv_text(text, "")
    if not changed or not rows:
        return set(changed)
    first = rows[0].line
    if changed[0] < first or (first == 1 and changed[0] == 1):
        return set(changed) | {row.line for row in rows}
    lines = set(changed)
    for row, after in zip(rows, [*(r.line for r in rows[1:]), starts[-1] + 1]):
        i = bisect.bisect_left(changed, row.line)
        if i < len(changed) and changed[i] < after:
            lines.add(row.line)
    return lines


def _read_csv_text(path: Path) -> str:
    # As the sources stage reads it: bytes decoded, line ends untranslated.
    return path.read_bytes().decode("utf-8-sig", errors="replace")


def _child_csvs_on_lines(path: Path, lines: set[int]) -> set[str]:
    """Child CSV references on the given lines, parsed as the sources stage parses them."""
    rows, _ = parse_csv_text(_read_csv_text(path), str(path))
    return {row.url for row in rows if row.line in lines and is_csv_reference(row.url)}


def _is_same_csv(listed: str, ref: str, parent: Path) -> bool:
    """Is a listing's file the child CSV that ``ref`` (a cell of ``parent``) points to?"""
    if listed == ref:
        return True
    if "://" in ref or "://" in listed:
        return False
    return Path(listed).resolve() == (parent.parent / ref).resolve()


def _is_changed(entry: Entry, path: Path, lines: set[int], children: set[str]) -> bool:
    for listing in entry.listings:
        if "://" not in listing.file and Path(listing.file).resolve() == path and listing.line in lines:
            return True
        if any(_is_same_csv(listing.file, ref, path) for ref in children):
            return True
    return False


def _command_line_columns(url: str) -> dict[str, str]:
    """An ``s3://`` URL given on the command line is read from the environment's endpoint, if any."""
    env = get_env_endpoint(os.environ) if url.startswith("s3://") else None
    return {"endpoint": parse_endpoint(env[1])} if env else {}


async def get_check_entries(options: CheckOptions, fetcher: Fetcher) -> tuple[list[Entry], list[RowError]]:
    url_map = dict(options.url_map)
    entries: dict[str, Entry] = {}
    errors: list[RowError] = []

    async def add_csv(target: str, keep=None, keep_error=None) -> None:  # type: ignore[no-untyped-def]
        result = await get_entries(target, fetcher, url_map=url_map)
        errors.extend(e for e in result.errors if keep_error is None or keep_error(e))
        for e in result.entries:
            if keep is None or keep(e):
                entries.setdefault(e.url, e)

    for target in options.targets:
        if is_csv_reference(target):
            await add_csv(target)
        else:
            try:
                url = parse_dataset_url(target)
                columns = _command_line_columns(url)
            except UrlError as e:
                errors.append(RowError(file="(command line)", line=0, message=str(e), url=target))
                continue
            entries.setdefault(url, Entry(url=url, source="", collection="", listings=(), columns=columns))

    if options.changed:
        for path, git_lines in get_changed_rows(options.changed, options.repo).items():
            lines = get_changed_csv_lines(_read_csv_text(path), git_lines)
            children = _child_csvs_on_lines(path, lines)
            await add_csv(
                str(path),
                lambda e, p=path, n=lines, c=children: _is_changed(e, p, n, c),
                lambda err, p=path, n=lines, c=children: (
                    ("://" not in err.file and Path(err.file).resolve() == p and err.line in n)
                    or any(_is_same_csv(err.file, ref, p) for ref in c)
                ),
            )
    return list(entries.values()), errors


async def run_check(options: CheckOptions) -> int:
    fetcher = Fetcher(
        concurrency=options.concurrency,
        per_host=options.per_host,
        timeout=options.timeout,
        host_failures=options.host_failures,
        allow_private_addresses=options.allow_private_addresses,
    )
    async with fetcher:
        entries, row_errors = await get_check_entries(options, fetcher)
        if not entries and not row_errors:
            print("ngff-catalog check: no dataset rows to check")
            _write_summary(options.summary, [], [], options.out)
            return 0
        found = await harvest(
            entries, fetcher, thumb_size=options.thumbnail.card_size, thumbnails=options.thumbnails,
            dataset_seconds=options.dataset_seconds, plate_wells=options.plate_wells,
        )
        datasets = [replace(d, status=decide_status(d)) for d in (d.with_findings(validate(d)) for d in found)]
        if options.thumbnails:
            options.out.mkdir(parents=True, exist_ok=True)
            datasets = await make_thumbnails(datasets, fetcher, options.out, options.thumbnail)
    verdicts = [Verdict(d) for d in datasets]
    print(format_report(verdicts, row_errors, options.out))
    _write_summary(options.summary, verdicts, row_errors, options.out)
    failed = any(not v.passed for v in verdicts) or bool(row_errors)
    return 1 if failed else 0


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "NO")


def _inert(text: object) -> str:
    """Text from a dataset as one visible line: unsafe characters shown as escapes (``\\r``, ``\\x1b``)."""
    return UNSAFE_TEXT.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def _rows(verdicts: list[Verdict]) -> list[list[str]]:
    rows = []
    for v in verdicts:
        d = v.dataset
        rows.append([
            "PASS" if v.passed else "FAIL",
            _inert(d.url),
            _yes_no(v.reachable),
            _yes_no(d.cors),
            _inert(d.kind),
            _inert(d.ngff_version or "-"),
            str(len(d.errors)),
            "yes" if v.thumbnail else "no",
        ])
    return rows


HEADERS = ["verdict", "dataset", "reachable", "CORS", "kind", "NGFF", "errors", "thumbnail"]


def describe_verdict(v: Verdict) -> str:
    """The verdict in words a provider can act on."""
    d = v.dataset
    version = f"OME-NGFF {d.ngff_version}" if d.ngff_version else "OME-NGFF"
    advice = sum(w.endswith(STRICT_ADVICE) for w in d.warnings)
    if not v.reachable:
        return "FAIL: not reachable; make the dataset readable over HTTP(S) at this address, then check again"
    if not v.passed:
        n = len(d.errors)
        return (
            f"FAIL: not valid {version}: {n} {'error' if n == 1 else 'errors'}, each naming the place in the "
            "metadata and the spec's rule; fix them, then check again"
        )
    if advice:
        return f"PASS: valid {version}; {advice} optional {'recommendation' if advice == 1 else 'recommendations'} of the spec's strict schema"
    return f"PASS: valid {version}"


def format_report(verdicts: list[Verdict], row_errors: list[RowError], out: Path) -> str:
    """The verdicts as text. Every line starts with a word of ours, never with a
    dataset's text, and that text holds no line break (see ``_inert``)."""
    parts = [format_table(HEADERS, _rows(verdicts))]
    for v in verdicts:
        d = v.dataset
        if d.errors or d.warnings or v.thumbnail:
            parts.append(f"\ndataset {_inert(d.url)}")
            parts.append(f"  verdict: {describe_verdict(v)}")
            parts += [f"  error: {_inert(e)}" for e in d.errors]
            parts += [f"  warning: {_inert(w)}" for w in d.warnings if not w.endswith(STRICT_ADVICE)]
            parts += [f"  recommended: {_inert(w.removesuffix(STRICT_ADVICE))}" for w in d.warnings if w.endswith(STRICT_ADVICE)]
            if v.thumbnail:
                parts.append(f"  thumbnail: {_inert(out / v.thumbnail)}")
    if row_errors:
        parts.append("\nCSV rows that could not be used:")
        parts += [f"  row {_inert(e)}" for e in row_errors]
    ok = sum(v.passed for v in verdicts)
    parts.append(f"\n{ok}/{len(verdicts)} datasets pass" + (f", {len(row_errors)} bad rows" if row_errors else ""))
    return "\n".join(parts)


def _md(text: str) -> str:
    """Make untrusted text inert in a Markdown table cell: one line, no markup."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", _inert(text))


def _thumbnail_data_uri(path: Path) -> str | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.thumbnail((128, 128))
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:  # a preview is a nicety; the verdict table is what matters
        return None


def _write_summary(path: Path | None, verdicts: list[Verdict], row_errors: list[RowError], out: Path) -> None:
    if path is None:
        return
    lines = ["## ngff-catalog check", ""]
    if not verdicts and not row_errors:
        lines.append("No dataset rows were added or changed.")
    else:
        lines.append("| " + " | ".join(HEADERS + ["preview"]) + " |")
        lines.append("|" + "---|" * (len(HEADERS) + 1))
        for v, row in zip(verdicts, _rows(verdicts)):
            uri = _thumbnail_data_uri(out / v.thumbnail) if v.thumbnail else None
            preview = f'<img src="{uri}" width="96" alt="thumbnail">' if uri else ""
            lines.append("| " + " | ".join(_md(c) for c in row) + f" | {preview} |")
        for v in verdicts:
            if v.dataset.errors:
                lines.append("")
                lines.append(f"**{_md(v.dataset.url)}**: {_md(describe_verdict(v))}")
                lines += [f"- {_md(e)}" for e in v.dataset.errors]
        if row_errors:
            lines.append("")
            lines.append("**CSV rows that could not be used**")
            lines += [f"- {_md(str(e))}" for e in row_errors]
    with path.open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

