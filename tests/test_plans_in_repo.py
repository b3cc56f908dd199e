"""Plans in the repository (``plans_in_repo`` / ``planloop plan --in-repo``), asked of real git.

After a plan is made and a step has run (so the run record, the log, the write-ahead
record and the checkpoint repository all exist), ``git status`` and ``git check-ignore``
in the user's repository must show the plan versions and plan.md as committable and
everything else under ``.planloop/`` as ignored; without the setting, everything stays
ignored. planloop itself runs no git command that writes the user's repository: the
test compares the repository's HEAD, index and refs before and after.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from helpers import report, script, step, submit, write
from planloop.state.store import GITIGNORE, GITIGNORE_PLANS_IN_REPO, PlanStore

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
GOAL = "Add a file"


def git(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ws, capture_output=True, text=True, check=False)


def repo(tmp: Path) -> Path:
    ws = tmp / "repo"
    ws.mkdir()
    git(ws, "init", "-q")
    (ws / "README.md").write_text("hi\n")
    (ws / "planloop.toml").write_text("workspace_checks = []\nrepo_map_tokens = 0\n")
    git(ws, "add", "-A")
    c = git(ws, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert c.returncode == 0, c.stderr
    return ws


def scripted(tmp: Path) -> Path:
    check = {"kind": "file_exists", "path": "new.txt"}
    return script(
        tmp,
        [submit(GOAL, [step("add", checks=[check], files=["new.txt"])])] * 3,
        [write("new.txt", "new\n"), report()],
    )


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env.update(PLANLOOP_MODE="split", COLUMNS="200", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run(
        [PLANLOOP, *args],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def git_fingerprint(ws: Path) -> str:
    """HEAD, every ref, the index and the config: what planloop must never write."""
    d = ws / ".git"
    parts = [git(ws, "rev-parse", "HEAD").stdout, git(ws, "show-ref").stdout]
    for name in ("index", "config", "HEAD"):
        p = d / name
        parts.append(hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "-")
    return "\n".join(parts)


def untracked(ws: Path) -> set[str]:
    out = git(ws, "status", "--porcelain", "--untracked-files=all").stdout
    return {line[3:] for line in out.splitlines() if line.startswith("?? ")}


def ignored(ws: Path, rel: str) -> bool:
    res = git(ws, "check-ignore", "-q", "--no-index", rel)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode == 0


def plan_and_run(ws: Path, spec: Path, *plan_flags: str) -> str:
    made = cli(ws, "plan", GOAL, "--yes", "--planner", f"scripted:{spec}", *plan_flags)
    assert made.returncode == 0, made.stdout + made.stderr
    ran = cli(ws, "run", "--all", "--yes", "--executor", f"scripted:{spec}")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return PlanStore(ws).load().plan.plan_id


def test_plan_in_repo_makes_versions_and_plan_md_committable_and_keeps_run_state_ignored(
    tmp_path: Path,
) -> None:
    ws = repo(tmp_path)
    before = git_fingerprint(ws)
    pid = plan_and_run(ws, scripted(tmp_path), "--in-repo")
    pl = ".planloop"
    d = f"{pl}/plans/{pid}"
    assert (ws / pl / ".gitignore").read_text() == GITIGNORE_PLANS_IN_REPO
    # the current plan's Markdown at .planloop/plan.md (written by another module) is kept too
    (ws / pl / "plan.md").write_text("# the current plan\n")

    assert untracked(ws) == {
        "new.txt",  # the step's edit
        f"{pl}/.gitignore",
        f"{pl}/plan.md",
        f"{d}/v1.json",
        f"{d}/plan.md",
    }
    for kept in (f"{d}/v1.json", f"{d}/plan.md", f"{pl}/plan.md", f"{pl}/.gitignore"):
        assert not ignored(ws, kept), kept
    # run state, logs, locks, checkpoints and caches: all present, all ignored
    state = [f"{d}/run.json", f"{d}/log.jsonl", f"{pl}/current", f"{pl}/run.lock"]
    for rel in state:
        assert (ws / rel).exists(), rel
        assert ignored(ws, rel), rel
    assert (ws / pl / "shadow.git").is_dir()
    assert ignored(ws, f"{pl}/shadow.git/HEAD") and ignored(ws, f"{pl}/scripted-state.json")
    assert ignored(ws, f"{d}/touched.jsonl")  # the write-ahead record, when it exists
    assert PlanStore(ws).problems() == []  # the variant is planloop's own, not damage
    # planloop wrote files only: HEAD, refs, index and config of the user's repo unchanged
    assert git_fingerprint(ws) == before


def test_the_setting_does_the_same_and_a_later_run_without_it_keeps_the_file(
    tmp_path: Path,
) -> None:
    ws = repo(tmp_path)
    spec = scripted(tmp_path)
    toml = ws / "planloop.toml"
    toml.write_text(toml.read_text() + "plans_in_repo = true\n")
    pid = plan_and_run(ws, spec)
    assert f".planloop/plans/{pid}/v1.json" in untracked(ws)
    toml.write_text("workspace_checks = []\nrepo_map_tokens = 0\n")
    status = cli(ws, "status")
    assert status.returncode == 0 and "warning" not in status.stderr, status.stderr
    # never narrowed behind the user's back: a committed plan must not vanish from git
    assert (ws / ".planloop" / ".gitignore").read_text() == GITIGNORE_PLANS_IN_REPO


def test_without_the_setting_everything_under_planloop_stays_ignored(tmp_path: Path) -> None:
    ws = repo(tmp_path)
    pid = plan_and_run(ws, scripted(tmp_path))
    assert (ws / ".planloop" / ".gitignore").read_text() == GITIGNORE
    assert untracked(ws) == {"new.txt"}
    assert ignored(ws, f".planloop/plans/{pid}/v1.json")


def test_in_repo_widens_planloops_default_file_but_never_a_users_edit(tmp_path: Path) -> None:
    ws = repo(tmp_path)
    spec = scripted(tmp_path)
    gi = ws / ".planloop" / ".gitignore"
    plan_and_run(ws, spec)
    assert gi.read_text() == GITIGNORE
    # the default file is planloop's own: a later --in-repo widens it
    again = cli(ws, "plan", GOAL, "--in-repo", "--planner", f"scripted:{spec}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert gi.read_text() == GITIGNORE_PLANS_IN_REPO
    gi.write_text("# mine\n*\n")
    third = cli(ws, "plan", GOAL, "--in-repo", "--planner", f"scripted:{spec}")
    assert third.returncode == 0, third.stdout + third.stderr
    assert gi.read_text() == "# mine\n*\n"


def test_a_gitignore_that_un_ignores_run_state_is_reported_not_rewritten(tmp_path: Path) -> None:
    ws = repo(tmp_path)
    plan_and_run(ws, scripted(tmp_path), "--in-repo")
    gi = ws / ".planloop" / ".gitignore"
    widened = GITIGNORE_PLANS_IN_REPO + "!/plans/*/run.json\n"
    gi.write_text(widened)
    res = cli(ws, "status")
    assert res.returncode == 0
    err = " ".join(res.stderr.split())
    assert "warning:" in err and "un-ignores !/plans/*/run.json" in err, err
    assert gi.read_text() == widened
    # a '!' line *before* the '*' is overridden by it: harmless, not reported
    gi.write_text("!/plans/*/run.json\n" + GITIGNORE_PLANS_IN_REPO)
    assert PlanStore(ws).problems() == []
