"""Property: whatever mix of step edits, user edits and reverts happens, the user's
repository is never written, and every revert restores each of its files byte for byte or
reports a conflict for exactly the files the user changed since the step.

The model is one state per file name (absent, a file with bytes and an exec bit, or a
symlink with a target, possibly pointing outside the workspace). A revert's expectation is
computed from the model before the revert runs; git's rename pairing is the one thing taken
from the store (``changes``), to know which partner a path filter pulls in.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from planloop.checkpoints.store import CheckpointStore
from test_checkpoints import make_user_repo, user_repo_fingerprint

NAMES = ["a.py", "b.py", "notes.txt", "d/c.txt", "d/e/f.bin"]
State = tuple | None  # ("file", bytes, exec) | ("link", target) | None


def read(root: Path, name: str) -> State:
    p = root / name
    if p.is_symlink():
        return ("link", os.readlink(p))
    if not p.exists():
        return None
    return ("file", p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))


def write(root: Path, name: str, state: State) -> None:
    p = root / name
    if p.is_symlink() or p.exists():
        p.unlink()
    if state is None:
        return
    p.parent.mkdir(parents=True, exist_ok=True)
    if state[0] == "link":
        os.symlink(state[1], p)
    else:
        p.write_bytes(state[1])
        p.chmod(0o755 if state[2] else 0o644)


_TEMPLATE: list[Path] = []


def user_repo_copy(dest: Path) -> None:
    """A fresh copy of one dirty user repository (staged, unstaged, untracked, stash,
    detached HEAD, merge in progress), built once: building it per example costs more than
    the example."""
    if not _TEMPLATE:
        base = Path(tempfile.mkdtemp(prefix="planloop-prop-"))
        atexit.register(shutil.rmtree, base, True)
        make_user_repo(base / "repo", "all", base / "hook-ran")
        _TEMPLATE.append(base / "repo")
    shutil.copytree(_TEMPLATE[0], dest, symlinks=True)


def git_dir_digest(root: Path) -> dict[str, str]:
    """Cheap per-operation check: every file under the user's .git, byte for byte."""
    out = {}
    for p in sorted((root / ".git").rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


contents = st.one_of(
    st.binary(max_size=48),
    st.sampled_from([b"", b"shared line\n" * 6, b"x = 1\n", b"\x00\x01binary\xff"]),
)
states = st.one_of(
    st.none(),
    st.tuples(st.just("file"), contents, st.booleans()),
    st.tuples(st.just("link"), st.sampled_from(["a.py", "../outside/secret", "/etc/hostname"])),
)
edits = st.dictionaries(st.sampled_from(NAMES), states, min_size=1, max_size=3)
revert_spec = st.tuples(
    st.integers(0, 20),
    st.none() | st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True),
)
# A round: a step's edits, then maybe the user's own edits, then maybe a revert of some
# earlier step (index modulo the steps so far; paths None means all of the step's files).
rounds = st.lists(
    st.tuples(
        edits,
        st.dictionaries(st.sampled_from(NAMES), states, max_size=2),
        st.one_of(revert_spec, revert_spec, st.none()),
    ),
    min_size=1,
    max_size=6,
)


@dataclass
class StepRecord:
    before: str
    after: str
    states_before: dict[str, State]
    states_after: dict[str, State]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(initial=st.fixed_dictionaries({n: states for n in NAMES}), sequence=rounds)
def test_random_steps_user_edits_and_reverts(initial: dict[str, State], sequence: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        user_repo_copy(root)
        for name, state in initial.items():
            write(root, name, state)
        fp = user_repo_fingerprint(root)
        digest = git_dir_digest(root)
        steps: list[StepRecord] = []
        with CheckpointStore(root) as store:
            for step_edits, user_edits, revert in sequence:
                sb = {n: read(root, n) for n in NAMES}
                before = store.snapshot("before")
                # the path under test: the shadow reads the user's objects (and started
                # from a copy of the user's index), yet never writes the user's .git
                assert (store.shadow_dir / "planloop-borrow").is_file()
                for name, state in step_edits.items():
                    write(root, name, state)
                after = store.snapshot("after")
                steps.append(StepRecord(before, after, sb, {n: read(root, n) for n in NAMES}))
                assert git_dir_digest(root) == digest, "user's .git changed by a snapshot"
                for name, state in user_edits.items():
                    write(root, name, state)
                if revert is not None:
                    index, paths = revert
                    check_revert(store, root, steps[index % len(steps)], paths)
                    assert git_dir_digest(root) == digest, "user's .git changed by a revert"
        assert user_repo_fingerprint(root) == fp


def check_revert(
    store: CheckpointStore, root: Path, step: StepRecord, paths: list[str] | None
) -> None:
    changed = {n for n in NAMES if step.states_before[n] != step.states_after[n]}
    if paths is None:
        affected = changed
    else:
        affected = {p for p in paths if p in changed}
        for c in store.changes(step.before, step.after):  # rename partners come along
            if c.old_path and ({c.path, c.old_path} & set(paths)):
                affected |= {c.path, c.old_path}
    now = {n: read(root, n) for n in NAMES}
    restored, already, conflicts = set(), set(), set()
    for n in affected:
        if now[n] == step.states_after[n]:
            restored.add(n)
        elif now[n] == step.states_before[n]:
            already.add(n)
        else:
            conflicts.add(n)

    result = store.revert(step.before, step.after, paths)
    for kind, found in (("restored", restored), ("already", already), ("conflict", conflicts)):
        if found:
            event(f"revert with {kind} files")

    assert set(result.restored) == restored
    assert set(result.already_reverted) == already
    assert {c.path for c in result.conflicts} == conflicts
    for n in NAMES:
        got = read(root, n)
        if n in restored:
            assert got == step.states_before[n], f"{n} not restored byte for byte"
        else:
            assert got == now[n], f"{n} was touched although it was not restored"


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(initial=st.fixed_dictionaries({n: states for n in NAMES}), sequence=rounds)
def test_reverts_stay_exact_after_the_users_objects_vanish(
    initial: dict[str, State], sequence: list
) -> None:
    """A shadow that borrowed the user's objects, then the user's .git is gone (deleted, or
    about to be cloned again): every step's revert is still exact, every snapshot works."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        user_repo_copy(root)
        for name, state in initial.items():
            write(root, name, state)
        steps: list[StepRecord] = []
        with CheckpointStore(root) as store:
            for i, (step_edits, user_edits, revert) in enumerate(sequence):
                sb = {n: read(root, n) for n in NAMES}
                before = store.snapshot("before")
                for name, state in step_edits.items():
                    write(root, name, state)
                after = store.snapshot("after")
                steps.append(StepRecord(before, after, sb, {n: read(root, n) for n in NAMES}))
                if i == 0:
                    shutil.rmtree(root / ".git")
                for name, state in user_edits.items():
                    write(root, name, state)
                if revert is not None:
                    index, paths = revert
                    check_revert(store, root, steps[index % len(steps)], paths)
