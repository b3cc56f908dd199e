"""examples/ holds what a user copies — the demo's calculator, a commented planloop.toml, a
plan document, the editor configs — and the docs publish those files byte for byte, so a
page cannot promise a config nobody ran (the Neovim one is the config the Neovim end-to-end
test runs) or a setting the code does not read."""

from __future__ import annotations

import re
from pathlib import Path

from planloop.config import load_config
from planloop.document.markdown_parse import parse

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EDITORS = ROOT / "docs" / "editors"
PAGE = EDITORS / "neovim.md"

_BLOCK = re.compile(r"<!-- begin (examples/[^ ]+) -->\n```\w*\n(.*?)```\n<!-- end \1 -->", re.S)


def published() -> dict[str, list[str]]:
    """Every example file a docs page includes, with the text the page shows for it."""
    found: dict[str, list[str]] = {}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for name, body in _BLOCK.findall(page.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(body)
    return found


def test_the_published_neovim_config_is_the_tested_one() -> None:
    found = _BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert [name for name, _ in found] == ["examples/editors/neovim/init.lua"], (
        "neovim.md must hold the tested init.lua once, between the markers"
    )
    config = EXAMPLES / "editors" / "neovim" / "init.lua"
    assert found[0][1] == config.read_text(encoding="utf-8"), (
        "docs/editors/neovim.md differs from examples/editors/neovim/init.lua: copy the file "
        "into the page (between the begin/end markers)"
    )


def test_every_editor_config_in_examples_is_the_one_its_page_shows() -> None:
    shown = published()
    configs = sorted(
        p.relative_to(ROOT).as_posix() for p in (EXAMPLES / "editors").rglob("*") if p.is_file()
    )
    assert configs, "examples/editors/ is empty"
    for name in configs:
        assert name in shown, f"{name} is in no docs page (between begin/end markers)"
        for body in shown[name]:
            assert body == (ROOT / name).read_text(encoding="utf-8"), (
                f"a docs page shows another {name}: copy the file into it"
            )
    assert set(shown) <= {*configs, *(n for n in shown if (ROOT / n).is_file())}


def test_every_editor_page_says_whether_it_is_tested() -> None:
    pages = {p.stem: p.read_text(encoding="utf-8") for p in EDITORS.glob("*.md")}
    assert {"index", "neovim", "helix", "emacs", "zed"} <= set(pages)
    assert pages["neovim"].startswith("# planloop in Neovim\n\n**Tested**")
    for name in ("helix", "emacs", "zed"):
        assert "**Not tested**" in pages[name], name


def test_the_commented_settings_file_is_valid_and_sets_what_it_says(tmp_path: Path) -> None:
    (tmp_path / "planloop.toml").write_bytes((EXAMPLES / "planloop.toml").read_bytes())
    config = load_config(tmp_path)
    assert config.workspace_checks == ["python -m pytest -q"]
    assert config.budgets.usd == 2.0


def test_the_example_plan_document_is_a_plan() -> None:
    text = (EXAMPLES / "plan.md").read_text(encoding="utf-8")
    doc = parse(text)
    assert not doc.problems, doc.problems
    assert len(doc.steps) == 3
