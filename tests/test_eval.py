"""``planloop eval``: the starter set offline, compare, record → replay, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planloop.eval.cassette import Cassette, CassetteError
from planloop.eval.runner import EvalConfig, run_eval
from planloop.eval.tasks import EvalError, load_tasks, starter_dir

PLANLOOP = str(Path(sys.executable).parent / "planloop")


def env(tmp: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    e["COLUMNS"] = "200"
    e["TMPDIR"] = str(tmp)  # where eval's temporary copies go: the test sees them removed
    return e


def planloop(tmp: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [PLANLOOP, *args],
        env=env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def tasks_dir(tmp: Path, *names: str, edit: dict[str, tuple[str, str]] | None = None) -> Path:
    """A task set with copies of some starter tasks; ``edit``: task → (old, new) in task.toml."""
    root = tmp / "tasks"
    for n in names:
        shutil.copytree(starter_dir() / n, root / n)
    for n, (old, new) in (edit or {}).items():
        toml = root / n / "task.toml"
        text = toml.read_text()
        assert old in text
        toml.write_text(text.replace(old, new))
    return root


def test_starter_set_runs_offline_and_prints_the_table(tmp_path: Path) -> None:
    tasks = load_tasks(None)
    assert len(tasks) >= 8
    horizons = sorted(t.horizon or 0 for t in tasks)
    assert horizons[0] == 1 and horizons[-1] >= 6  # one-line fixes to 6+ step features
    assert {t.check.split()[0] for t in tasks} == {"python", "node"}
    out = tmp_path / "r.json"
    res = planloop(tmp_path / "t", "eval", "--jobs", "2", "--json", str(out))
    assert res.returncode == 0, res.stderr
    assert "planloop eval" in res.stdout and "total" in res.stdout
    assert f"[{len(tasks)}/{len(tasks)}]" in res.stderr  # progress, one line per run
    report = json.loads(out.read_text())
    rows = report["tasks"]
    assert len(rows) == len(tasks) and all(r["config"] == "auto" for r in rows)
    assert all(r["solved"] for r in rows), [r for r in rows if not r["solved"]]
    by = {r["task"]: r for r in rows}
    # auto: short tasks jointly, long ones split, the failing joint run escalated once
    assert by["py-fix-add"]["mode"] == "joint" and by["py-textstats"]["mode"] == "split"
    assert by["py-escalate"]["replans"] == 1 and by["py-escalate"]["final_mode"] == "split"
    assert report["totals"]["auto"]["solved"] == len(tasks)
    assert by["py-inventory"]["tokens"]["planner"]["input"] > 0
    assert list(tmp_path.joinpath("t").iterdir()) == []  # every temporary copy removed


def test_compare_shows_both_configurations_side_by_side(tmp_path: Path) -> None:
    root = tasks_dir(tmp_path, "py-stack", "py-escalate")
    csv_out = tmp_path / "r.csv"
    res = planloop(
        tmp_path / "t", "eval", str(root), "--compare", "split", "joint", "--csv", str(csv_out)
    )
    assert res.returncode == 0, res.stderr
    assert "split vs joint" in res.stdout and "Δ wall (joint-split)" in res.stdout
    lines = csv_out.read_text().splitlines()
    assert lines[0].startswith("task,config,repeat,solved")
    rows = [line.split(",") for line in lines[1:]]
    assert sorted((r[0], r[1]) for r in rows) == [
        ("py-escalate", "joint"),
        ("py-escalate", "split"),
        ("py-stack", "joint"),
        ("py-stack", "split"),
    ]
    calls = {(r[0], r[1]): int(r[lines[0].split(",").index("model_calls")]) for r in rows}
    assert calls[("py-stack", "joint")] < calls[("py-stack", "split")]


def test_record_then_replay_reproduces_the_report(tmp_path: Path) -> None:
    tasks = load_tasks(tasks_dir(tmp_path, "py-escalate", "js-units"))
    configs = [EvalConfig("auto")]
    recorded = run_eval(tasks, configs, record=tmp_path / "cas")
    assert all(r.judged and r.solved for r in recorded.runs)
    files = sorted(p.name for p in (tmp_path / "cas").rglob("*.json"))
    assert files == ["auto-r1.json", "auto-r1.json"]
    replayed = run_eval(tasks, configs, replay=tmp_path / "cas")
    assert replayed.comparable() == recorded.comparable()
    assert replayed.runs[0].model_calls > 0


def test_replay_of_a_different_request_names_the_first_difference(tmp_path: Path) -> None:
    root = tasks_dir(tmp_path, "py-fix-add")
    run_eval(load_tasks(root), [EvalConfig("split")], record=tmp_path / "cas")
    toml = root / "py-fix-add" / "task.toml"
    toml.write_text(toml.read_text().replace("Fix add()", "Repair add()"))
    rep = run_eval(load_tasks(root), [EvalConfig("split")], replay=tmp_path / "cas")
    (r,) = rep.runs
    assert not r.solved or r.state == "error"
    assert "differs from the recording at request.messages[0].content" in r.reason
    assert "Repair add()" in r.reason and "Fix add()" in r.reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=99), "is version 99; this planloop reads version 1"),
        (
            lambda d: d["interactions"][0]["reply"]["content"].append(
                {"type": "text", "text": "extra"}
            ),
            "was changed after it was recorded",
        ),
    ],
    ids=["foreign-version", "hand-edited"],
)
def test_a_foreign_or_edited_cassette_is_refused_before_any_run(
    tmp_path: Path, change: object, message: str
) -> None:
    root = tasks_dir(tmp_path, "py-greeting")
    run_eval(load_tasks(root), [EvalConfig("joint")], record=tmp_path / "cas")
    (path,) = (tmp_path / "cas").rglob("*.json")
    doc = json.loads(path.read_text())
    change(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))
    with pytest.raises(CassetteError, match=message):
        Cassette.load(path)
    res = planloop(
        tmp_path / "t", "eval", str(root), "--mode", "joint", "--replay", str(tmp_path / "cas")
    )
    assert res.returncode == 1 and message in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1].startswith("error: ")


def test_a_task_folder_without_task_toml_is_a_one_line_error(tmp_path: Path) -> None:
    root = tasks_dir(tmp_path, "py-greeting")
    (root / "py-greeting" / "task.toml").unlink()
    with pytest.raises(EvalError, match=r"no task\.toml"):
        load_tasks(root)
    res = planloop(tmp_path / "t", "eval", str(root))
    assert res.returncode == 1 and "no task.toml" in res.stderr and "Traceback" not in res.stderr


def test_a_hidden_check_that_does_not_run_is_reported_not_counted(tmp_path: Path) -> None:
    root = tasks_dir(
        tmp_path,
        "py-greeting",
        edit={
            "py-greeting": ('command = "python hidden_check.py"', 'command = "no-such-checker-x"')
        },
    )
    res = planloop(tmp_path / "t", "eval", str(root), "--mode", "joint")
    assert res.returncode == 4, res.stderr
    assert "check did not run" in res.stdout
    assert "the hidden check did not run (exit 127)" in res.stderr


def test_a_hanging_task_is_killed_at_its_timeout(tmp_path: Path) -> None:
    root = tasks_dir(
        tmp_path,
        "py-greeting",
        edit={"py-greeting": ('command = "python hidden_check.py"', 'command = "sleep 60"')},
    )
    toml = root / "py-greeting" / "task.toml"
    toml.write_text(toml.read_text().replace("timeout_s = 120", "timeout_s = 3"))
    t0 = time.monotonic()
    res = planloop(tmp_path / "t", "eval", str(root), "--mode", "joint")
    assert time.monotonic() - t0 < 30
    assert res.returncode == 4, res.stderr
    assert "timeout" in res.stdout and "timed out after 3 s" in res.stderr
    assert list((tmp_path / "t").iterdir()) == []


@pytest.mark.parametrize("flag", [("--jobs", "0"), ("--repeat", "0")])
def test_jobs_or_repeat_zero_is_refused(tmp_path: Path, flag: tuple[str, str]) -> None:
    res = planloop(tmp_path / "t", "eval", *flag)
    assert res.returncode == 1 and f"{flag[0]} 0:" in res.stderr and "Traceback" not in res.stderr


def test_interrupted_eval_writes_a_partial_report_and_removes_its_copies(tmp_path: Path) -> None:
    root = tasks_dir(
        tmp_path,
        "py-fix-add",
        "py-greeting",
        edit={"py-greeting": ('command = "python hidden_check.py"', 'command = "sleep 60"')},
    )
    work = tmp_path / "t"
    work.mkdir()
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [PLANLOOP, "eval", str(root), "--mode", "joint", "--jobs", "2", "--json", str(out)],
        env=env(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = ""
    while "[1/2]" not in seen:  # py-fix-add finished; py-greeting hangs in its check
        line = proc.stderr.readline()
        assert line, "eval ended before a run finished"
        seen += line
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    report = json.loads(out.read_text())
    assert report["interrupted"] is True
    by = {r["task"]: r for r in report["tasks"]}
    assert by["py-fix-add"]["solved"] is True
    assert by["py-greeting"]["interrupted"] is True and by["py-greeting"]["solved"] is False
    assert list(work.iterdir()) == []


#: prints what differs between two honest runs: a memory address, a temporary path, a
#: clock time and durations, as a test runner's output does
VOLATILE = (
    "import tempfile, time; print(object(), tempfile.mkdtemp(), time.strftime('%H:%M:%S'), "
    "'took 12ms', 'took 0.5 seconds', 'in %.3fs' % time.monotonic())"
)


def volatile_task(tmp: Path) -> tuple[Path, str]:
    """py-fix-add whose split script runs a command with volatile output first, so the
    executor's next request carries it; and the scripted spec of that script."""
    root = tasks_dir(tmp, "py-fix-add")
    path = root / "py-fix-add" / "scripts" / "split.json"
    script = json.loads(path.read_text())
    run = {
        "type": "tool_use",
        "name": "run_command",
        "input": {"command": f'python -c "{VOLATILE}"'},
    }
    script["executor"].insert(
        0, {"content": [run], "usage": {"input_tokens": 10, "output_tokens": 5}}
    )
    path.write_text(json.dumps(script))
    return root, f"scripted:{path}"


def without_wall_times(report: dict) -> dict:
    for row in report["tasks"]:
        row.pop("wall_s")
    for total in report["totals"].values():
        total.pop("wall_s")
    return report


def test_a_run_recorded_with_model_flags_replays_without_them_to_the_same_report(
    tmp_path: Path,
) -> None:
    """Issue i25: `--replay DIR` looked for cassettes under names built from the model
    flags (with a stray `_`), and a run whose requests carried a memory address replayed
    as not solved. Recorded with --planner/--executor, replayed with the mode alone."""
    root, spec = volatile_task(tmp_path)
    cas = tmp_path / "cas"
    first, again = tmp_path / "rec.json", tmp_path / "rep.json"
    models = ["--planner", spec, "--executor", spec]
    rec = planloop(
        tmp_path / "t", "eval", str(root), "--mode", "split", *models,
        "--record", str(cas), "--json", str(first), "--csv", str(tmp_path / "rec.csv"),
    )  # fmt: skip
    assert rec.returncode == 0, rec.stdout + rec.stderr
    recorded = json.loads(first.read_text())
    assert recorded["tasks"][0]["solved"] is True, recorded
    # named as docs/eval.md says: DIR/<task>/<mode>-r<N>.json
    assert [p.relative_to(cas).as_posix() for p in cas.rglob("*.json")] == [
        "py-fix-add/split-r1.json"
    ]
    header = (tmp_path / "rec.csv").read_text().splitlines()[0].split(",")
    assert "reason" in header and "state" in header

    rep = planloop(
        tmp_path / "t", "eval", str(root), "--mode", "split", "--replay", str(cas),
        "--json", str(again),
    )  # fmt: skip
    assert rep.returncode == 0, rep.stdout + rep.stderr
    replayed = json.loads(again.read_text())
    assert replayed["tasks"][0]["solved"] is True, replayed["tasks"][0]["reason"]
    assert without_wall_times(replayed) == without_wall_times(recorded)


def test_a_mismatch_shows_where_the_texts_differ_with_context(tmp_path: Path) -> None:
    """Issue i25: the message cut both texts at 120 characters, so a difference further in
    showed two identical excerpts; now it names the offset and shows both sides there."""
    root = tasks_dir(tmp_path, "py-fix-add")
    run_eval(load_tasks(root), [EvalConfig("split")], record=tmp_path / "cas")
    toml = root / "py-fix-add" / "task.toml"
    goal = "Fix add() in calc.py: it subtracts instead of adding."
    long = goal[:-1] + ", " + "and keep sub() exactly as it is " * 5 + "(end)."
    toml.write_text(toml.read_text().replace(goal, long))
    rec = json.loads(next((tmp_path / "cas").rglob("*.json")).read_text())
    doc = rec["interactions"][0]["request"]["messages"][0]["content"]
    # rewrite the recording's goal too, all but the tail: the first difference is far in
    doc2 = doc.replace(goal, long.replace("(end)", "(END)"))
    rec["interactions"][0]["request"]["messages"][0]["content"] = doc2
    from planloop.eval.cassette import _digest

    rec["digest"] = _digest(rec["interactions"])
    next((tmp_path / "cas").rglob("*.json")).write_text(json.dumps(rec))
    rep = run_eval(load_tasks(root), [EvalConfig("split")], replay=tmp_path / "cas")
    (r,) = rep.runs
    assert not r.solved
    at = doc2.index("(END)") + 1
    assert f"differs from the recording at request.messages[0].content, at character {at}:" in (
        r.reason
    )
    assert "(END)." in r.reason and "(end)." in r.reason
    assert "keep sub() exactly as it is (" in r.reason  # context before the difference


def test_the_copies_are_removed_even_while_a_dying_process_still_writes_there(
    tmp_path: Path,
) -> None:
    """A killed worker's sandboxed command dies a moment after its worker: the removal of
    the copies goes on meanwhile instead of leaving what it wrote behind."""
    from planloop.eval.runner import _remove

    copies = tmp_path / "planloop-eval-x"
    (copies / "000" / "task").mkdir(parents=True)
    straggler = subprocess.Popen(  # writes into the copies for 0.5 s more
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "d = Path(sys.argv[1]) / '000' / 'task'\n"
            "stop = time.monotonic() + 0.5\n"
            "print('writing', flush=True)\n"
            "while time.monotonic() < stop:\n"
            "    try:\n"
            "        d.mkdir(parents=True, exist_ok=True)\n"
            "        (d / 'late.txt').write_text('x')\n"
            "    except OSError:\n"
            "        pass\n"
            "    time.sleep(0.005)\n",
            str(copies),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert straggler.stdout is not None and straggler.stdout.readline() == "writing\n"
    _remove(copies)  # one rmtree here would leave what the straggler writes next
    assert straggler.wait(10) == 0
    assert not copies.exists()
