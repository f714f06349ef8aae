"""Moderation sits above pledges: pledges' code never imports it, not even inside a
function; moderation hooks in at start-up instead (moderation.apps)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pledges import paper, privacy, services, views

PLEDGES = Path(__file__).resolve().parents[2] / "pledges"


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PLEDGES.rglob("*.py")) if "tests" not in p.parts],
    ids=lambda p: str(p.relative_to(PLEDGES)),
)
def test_no_pledges_module_imports_moderation(path: Path) -> None:
    assert not {name for name in _imported_modules(path) if name.split(".")[0] == "moderation"}


def test_moderation_registered_its_hooks_with_pledges_at_start_up() -> None:
    from moderation.selectors import pledger_decisions
    from moderation.services import paper_entry_record, pledge_moved_record, pledger_audit_forget
    from moderation.views import report_section

    assert pledge_moved_record in services._moved_listeners
    assert paper_entry_record in paper._entered_listeners
    assert pledger_audit_forget in privacy._erase_listeners
    assert pledger_decisions in privacy._export_sections
    assert report_section in views._page_sections
