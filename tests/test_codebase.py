"""Checks on the codebase itself: layering, docs that must list every setting, field and command."""

from __future__ import annotations

import ast
from pathlib import Path

import typer.main

from guanxi.cli import reference
from guanxi.cli.main import app
from guanxi.config import Settings
from guanxi.importers.headers import CUSTOMER_FIELDS, PURCHASE_FIELDS

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "guanxi"
DOCS = ROOT / "docs"
FRAMEWORKS = {"sqlalchemy", "alembic", "typer", "rich", "fastapi", "pydantic", "pydantic_settings"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_imports_no_framework_and_no_outer_layer() -> None:
    for path in (SRC / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FRAMEWORKS, f"{path.name} imports {name}"
            if top == "guanxi":
                assert name.startswith(("guanxi.domain", "guanxi.errors")), f"{path.name}: {name}"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"GUANXI_{name.upper()}" in text, f"docs/settings.md lacks {name}"
        assert field.description, f"setting {name} has no description"


def test_every_import_field_and_header_is_documented() -> None:
    text = (DOCS / "import.md").read_text(encoding="utf-8")
    for table in (CUSTOMER_FIELDS, PURCHASE_FIELDS):
        for field, headers in table.items():
            assert f"`{field}`" in text, f"docs/import.md lacks field {field}"
            for header in headers:
                assert header in text, f"docs/import.md lacks header {header} of {field}"


def test_cli_reference_is_current() -> None:
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == reference.render(), "docs/cli.md is stale: run `make docs`"


def test_every_command_has_a_summary_and_an_example() -> None:
    root = typer.main.get_command(app)
    for path in reference.command_paths(root):
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        if getattr(command, "commands", None):
            continue  # a group
        help_text = command.help or ""
        assert help_text.strip(), f"guanxi {' '.join(path)} has no help"
        assert "Example" in help_text, f"guanxi {' '.join(path)} has no Example"
