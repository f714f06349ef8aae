"""The apps form layers, and a lower layer never imports a higher one, not even
inside a function or only for type checking; no foreign key points up; and no app
holds more than 40% of the application code. The map below is the one
docs/architecture.md draws.

Migrations are left out of the import scan on purpose: they are history. The
foreign keys they build are checked on the current models instead, and their
dependency lists record moves (a model moved down to a lower app must depend on
the migration of the app it left), which no layering can forbid."""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module may import its own app and apps in strictly lower layers:
# not a sibling in the same layer, so siblings can never form a cycle either.
LAYERS: dict[str, int] = {
    "changeday.lib": 0,  # helpers that know no models or queries
    # Email delivery, knowing no app: every app above registers its kinds of email, the
    # campaigns' accounts (password resets) included, so it sits below them all.
    "outbox": 1,
    "campaigns": 2,
    # The directory of organisations and their counters per campaign; pledges point at it.
    "organisations": 3,
    "pledges": 4,
    "moderation": 5,
    "reminders": 5,
    "pages": 6,  # pages that show several apps together, seed_demo
    "changeday": 7,  # wiring: settings, urls, the Celery app, the API instance
}

# A layer's code is its directory, minus these and any other layer's directory
# inside it (changeday/lib is not wiring). bench/ and scripts/ are tooling outside
# the layers, and not application code.
SKIPPED_DIRECTORIES = {"tests", "migrations", "__pycache__"}

# Upward imports tolerated for a while, as (file, module imported), each with a comment
# naming who removes it; none today. An entry no longer needed fails
# test_the_allowed_exceptions_are_all_still_needed.
ALLOWED_IMPORTS: set[tuple[str, str]] = set()

# Known foreign keys pointing up, as "app.Model.field" -> the app it points at.
ALLOWED_RELATIONS: dict[str, str] = {}

# An app may hold more than MAX_SHARE of the code only while listed here.
MAX_SHARE = 0.40
ALLOWED_OVER_SHARE: set[str] = set()

# Calls that import a module named in a string.
STRING_IMPORTERS = {"include", "import_module", "import_string", "add_router", "__import__"}


def layer_of(module: str) -> str | None:
    """The LAYERS key a dotted module name belongs to (the longest that prefixes it)."""
    found = None
    for key in LAYERS:
        if module == key or module.startswith(key + "."):
            if found is None or len(key) > len(found):
                found = key
    return found


def layer_files(layer: str) -> Iterator[Path]:
    base = ROOT.joinpath(*layer.split("."))
    if not base.is_dir():
        return  # an app another piece of work creates
    inner = [ROOT.joinpath(*other.split(".")) for other in LAYERS if other.startswith(layer + ".")]
    for path in sorted(base.rglob("*.py")):
        relative = path.relative_to(base).parts
        if SKIPPED_DIRECTORIES.intersection(relative[:-1]):
            continue
        if any(path.is_relative_to(other) for other in inner):
            continue
        yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, *, package: str) -> Iterator[tuple[int, str]]:
    """Every module some source imports, with its line: at the top, inside functions,
    under TYPE_CHECKING, relative imports resolved against its package, and modules
    named in strings handed to include(), import_module() and the like."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield from ((node.lineno, name) for name in _from_import_names(node, package=package))
        elif isinstance(node, ast.Call) and _called_name(node) in STRING_IMPORTERS:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value


def _from_import_names(node: ast.ImportFrom, *, package: str) -> list[str]:
    if not node.level:
        return [node.module or ""]
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    if node.module:
        return [f"{base}.{node.module}"]
    return [f"{base}.{alias.name}" for alias in node.names]  # from . import views


def _called_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


def file_imports(path: Path) -> Iterator[tuple[int, str]]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imported_modules(path.read_text(), package=package)


def upward_imports() -> Iterator[tuple[str, int, str, str, str]]:
    """(file, line, module imported, importer's layer, imported layer) for every
    import of the same or a higher layer than the importer's own."""
    for layer, rank in LAYERS.items():
        for path in layer_files(layer):
            for line, module in file_imports(path):
                target = layer_of(module)
                if target is None or target == layer:
                    continue
                if LAYERS[target] >= rank:
                    yield str(path.relative_to(ROOT)), line, module, layer, target


def test_no_module_imports_its_own_layer_or_a_higher_one() -> None:
    found = [
        f"{file}:{line} imports {module} ({layer} may not import {target})"
        for file, line, module, layer, target in upward_imports()
        if (file, module) not in ALLOWED_IMPORTS
    ]
    assert not found, "Imports against the layers:\n" + "\n".join(found)


def forward_relations() -> Iterator[tuple[str, str, str]]:
    """("app.Model.field", the model's app, the related model's app) for every
    foreign key, one-to-one and many-to-many declared on a model of ours."""
    for config in apps.get_app_configs():
        if layer_of(config.name) is None:
            continue
        for model in config.get_models():
            # Model._meta is Django's documented Model _meta API, not a private name.
            for field in model._meta.get_fields():
                if not field.is_relation or field.auto_created or field.related_model is None:
                    continue
                target = field.related_model._meta.app_config.name
                yield f"{config.label}.{model.__name__}.{field.name}", config.name, target


def test_no_foreign_key_points_to_a_higher_layer() -> None:
    found = []
    for relation, app, target in forward_relations():
        target_layer = layer_of(target)
        if target_layer is None or target_layer == layer_of(app):
            continue
        if LAYERS[target_layer] >= LAYERS[layer_of(app) or ""] and ALLOWED_RELATIONS.get(relation) != target:
            found.append(f"{relation} points at {target}")
    assert not found, "Relations against the layers:\n" + "\n".join(found)


def test_every_app_of_ours_has_a_place_in_the_layers() -> None:
    ours = {config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT}
    # The benchmark harness's app is tooling, installed only when it runs.
    assert {name for name in ours if layer_of(name) is None} <= {"bench"}


def code_lines(path: Path) -> int:
    """Lines holding code: blanks and comments left out (docstrings count)."""
    lines = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type in skipped or token.type == tokenize.ENDMARKER:
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines)


def code_shares() -> dict[str, float]:
    counts = {layer: sum(code_lines(path) for path in layer_files(layer)) for layer in LAYERS}
    total = sum(counts.values())
    return {layer: count / total for layer, count in counts.items()}


def test_no_app_holds_more_than_forty_percent_of_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    shares = code_shares()
    with capsys.disabled():
        print("\nShare of the application code:", ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    over = {
        layer: share
        for layer, share in shares.items()
        if share > MAX_SHARE and layer not in ALLOWED_OVER_SHARE
    }
    assert not over, f"Over {MAX_SHARE:.0%} of the code: {over}"


def test_the_scan_finds_imports_wherever_they_hide() -> None:
    source = """
from typing import TYPE_CHECKING
from . import views
from .stats import DayCount
if TYPE_CHECKING:
    from reminders.models import ReminderSignup
def later():
    import pages.views
urlpatterns = [path("", include("pages.urls"))]
"""
    found = {module for _, module in imported_modules(source, package="pledges.sub")}

    hidden = {"pledges.sub.views", "pledges.sub.stats", "reminders.models", "pages.views", "pages.urls"}
    assert found == {"typing", *hidden}
    assert {layer_of(module) for module in hidden} == {"pledges", "reminders", "pages"}
    assert layer_of("changeday.lib.tokens") == "changeday.lib"
    assert layer_of("changeday.urls") == "changeday"
    assert layer_of("django.db") is None


def test_the_allowed_exceptions_are_all_still_needed() -> None:
    imports = {(file, module) for file, _, module, _, _ in upward_imports()}
    relations = {relation: target for relation, _, target in forward_relations()}
    shares = code_shares()
    assert ALLOWED_IMPORTS <= imports, f"No longer needed: {ALLOWED_IMPORTS - imports}"
    assert all(relations.get(r) == t for r, t in ALLOWED_RELATIONS.items())
    assert all(shares.get(layer, 0) > MAX_SHARE for layer in ALLOWED_OVER_SHARE)
