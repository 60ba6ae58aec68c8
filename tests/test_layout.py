"""The package layout keeps its promises, read from the imports of every module (no code is run)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "parallelverse"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE.parent)): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _importers(prefix: str) -> list[str]:
    return [m for m, imps in _modules().items() if any(i == prefix or i.startswith(prefix + ".") for i in imps)]


def test_imports_are_read():
    """The reader finds what it should: store/ does import zarr, cli/ does import click."""
    assert "parallelverse/store/history.py" in _importers("zarr")
    assert "parallelverse/cli/__init__.py" in _importers("click")


def test_only_store_imports_zarr():
    assert [m for m in _importers("zarr") if not m.startswith("parallelverse/store/")] == []


def test_verdict_never_imports_the_stress_stage():
    assert [m for m in _importers("parallelverse.stress") if m.startswith("parallelverse/verdict/")] == []


def test_only_cli_imports_click_or_rich_and_nothing_imports_cli():
    ui = set(_importers("click")) | set(_importers("rich"))
    assert [m for m in ui if not m.startswith("parallelverse/cli/")] == []
    assert [m for m in _importers("parallelverse.cli") if not m.startswith("parallelverse/cli/")] == ["parallelverse/__main__.py"]


def test_backtest_is_a_library():
    """backtest/ knows nothing about stores or stages."""
    below = [m for m in _modules() if m.startswith("parallelverse/backtest/")]
    assert below
    for prefix in ("parallelverse.store", "parallelverse.stress", "parallelverse.verdict", "parallelverse.generate"):
        assert [m for m in _importers(prefix) if m in below] == [], prefix


def test_every_generator_implements_the_whole_protocol():
    """prepare, fit and name on every generator: `generate` calls them without looking first."""
    from parallelverse.generators import GENERATORS

    for name, cls in GENERATORS.items():
        for method in ("prepare", "fit"):
            assert callable(getattr(cls, method, None)), f"{name}.{method}"
        assert isinstance(getattr(cls, "name", None), property), name
