"""docs/editors/neovim.md publishes the config the Neovim end-to-end test runs, byte for
byte, so the page cannot promise a config nobody ran."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "editors" / "neovim.md"
CONFIG = Path(__file__).with_name("init.lua")

_BLOCK = re.compile(
    r"<!-- begin tests/e2e_neovim/init.lua -->\n```lua\n(.*?)```\n"
    r"<!-- end tests/e2e_neovim/init.lua -->",
    re.S,
)


def test_the_published_neovim_config_is_the_tested_one() -> None:
    found = _BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(found) == 1, "neovim.md must hold the tested init.lua once, between the markers"
    assert found[0] == CONFIG.read_text(encoding="utf-8"), (
        "docs/editors/neovim.md differs from tests/e2e_neovim/init.lua: copy the file into "
        "the page (between the begin/end markers)"
    )


def test_every_editor_page_says_whether_it_is_tested() -> None:
    pages = {p.stem: p.read_text(encoding="utf-8") for p in PAGE.parent.glob("*.md")}
    assert {"index", "neovim", "helix", "emacs", "zed"} <= set(pages)
    assert pages["neovim"].startswith("# planloop in Neovim\n\n**Tested**")
    for name in ("helix", "emacs", "zed"):
        assert "**Not tested**" in pages[name], name
