"""The wire contract (planloop.lsp.contract) against what is registered, documented and
tested. The payloads the real server sends are checked against it in every end-to-end
test (lsp_harness validates each result and notification)."""

from __future__ import annotations

import re
from pathlib import Path

from planloop.lsp import commands, contract, payload_models, protocol_doc, server

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
TESTS = Path(__file__).resolve().parent


def test_every_registered_command_is_in_the_contract_with_its_params_model() -> None:
    assert [c.name for c in contract.COMMANDS] == list(server.COMMAND_NAMES)
    for name, spec in commands.COMMANDS.items():
        c = contract.BY_NAME[name]
        assert c.params is spec.args, name
        assert c.long == spec.long, name
    assert contract.BY_NAME[commands.CANCEL].params.__name__ == "CancelArgs"


def test_protocol_doc_is_generated_from_the_contract() -> None:
    """Regenerate with: .venv/bin/python -m planloop.lsp.protocol_doc > docs/protocol.md"""
    assert DOC.read_text(encoding="utf-8") == protocol_doc.render()


def test_doc_names_every_command_error_kind_and_notification() -> None:
    text = DOC.read_text(encoding="utf-8")
    for c in contract.COMMANDS:
        assert f"### `{c.name}`" in text
        assert f"| `{c.cli}` | `{c.name}` |" in text  # the parity table
    for m in contract.MESSAGES:
        assert f"### `{m.method}`" in text
    for kind in ("no_plan", "busy", "bad_arguments", "config", "internal"):
        assert f"`{kind}`" in text
    for key in ("plan", "markdown", "state", "reason", "costUsd", "progress", "pending"):
        assert re.search(rf"interface PlanPayload \{{[^}}]*\b{key}\b", text), key
    assert "window/showMessageRequest" in text and "planloopApprovals" in text


def test_the_documented_example_fits_the_contract() -> None:
    for tp, payload in protocol_doc.example_payloads():
        contract.check(tp, payload)


def test_every_lsp_row_of_the_parity_table_is_exercised_over_lsp() -> None:
    """Each command is called through a real server somewhere in tests/lsp (the bad-input
    module only sends broken arguments, so it does not count)."""
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for p in TESTS.glob("test_lsp_*.py")
        if p.name not in ("test_lsp_bad_input.py", "test_lsp_contract.py", "test_lsp_units.py")
    )
    for c in contract.COMMANDS:
        assert re.search(rf"""\.(cmd|error)\(\s*["']{re.escape(c.name)}["']""", sources), c.name


def test_contract_rejects_a_renamed_field() -> None:
    payload = {"cancelled": True}
    contract.check(payload_models.CancelPayload, payload)
    try:
        contract.check(payload_models.CancelPayload, {"canceled": True})
    except Exception:
        pass
    else:
        raise AssertionError("an unknown key must not fit the contract")
