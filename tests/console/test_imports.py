"""One door: the console reaches the engine only through `engine.__all__`, and the engine never reaches back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_MODULES = sorted((ROOT / "console").glob("*.py"))
ENGINE_MODULES = sorted((ROOT / "engine").rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every absolute import in the file, wherever it sits (functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _engine_doors(path: Path) -> list[str]:
    """What in `path` reaches into the engine other than `import engine` / `from engine import <public name>`."""
    bad = []
    for line, module, names in _imports(path):
        if module.split(".")[0] != "engine":
            continue
        if module != "engine":
            bad.append(f"{path.name}:{line}: {module}")
        else:
            bad += [f"{path.name}:{line}: engine.{n} (not in engine.__all__)" for n in names if n not in engine.__all__]
    return bad


def test_there_are_console_modules_to_check() -> None:
    assert len(CONSOLE_MODULES) > 20 and ROOT.joinpath("console", "main_window.py") in CONSOLE_MODULES


@pytest.mark.parametrize("path", CONSOLE_MODULES, ids=lambda p: p.name)
def test_the_console_uses_only_the_engines_public_api(path: Path) -> None:
    assert _engine_doors(path) == []


@pytest.mark.parametrize("path", CONSOLE_MODULES, ids=lambda p: p.name)
def test_the_console_loads_no_module_by_name(path: Path) -> None:
    """Dependencies are imported or passed in, never looked up in a string registry."""
    assert "importlib" not in {module.split(".")[0] for _, module, _ in _imports(path)}
    assert "__import__(" not in path.read_text(encoding="utf-8")


def test_the_check_catches_a_back_door(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from engine import Config, secrets\nimport engine.db\n\n\ndef f():\n"
                      "    from engine.db.queries import conversation\n")
    assert len(_engine_doors(sneaky)) == 3


def test_the_engine_never_imports_the_console_or_its_launcher() -> None:
    bad = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in ENGINE_MODULES
           for line, module, _ in _imports(path) if module.split(".")[0] in ("console", "mediadesk")]
    assert bad == []
