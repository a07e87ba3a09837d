"""Every module-level import of the package is the standard library or a declared dependency."""

import ast
import configparser
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def _declared() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].strip().splitlines()
    return {re.split(r"[<>=!~ ;\[]", line.strip())[0].lower() for line in lines if line.strip()}


def _imports(path: Path, module_level_only: bool = True) -> set[str]:
    """Top-level package names imported by ``path`` (at module level, or anywhere)."""
    tree = ast.parse(path.read_text())
    # Lazy imports inside functions may come from extras; module-level ones may not.
    nodes = tree.body if module_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_module_level_imports_are_declared_dependencies():
    declared = _declared()
    undeclared = {}
    for path in sorted((ROOT / "danogan_sk").rglob("*.py")):
        for name in _imports(path):
            if name in sys.stdlib_module_names or name in ("danogan_sk", "__future__"):
                continue
            if DISTRIBUTIONS.get(name, name).lower() not in declared:
                undeclared.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"imported at module level but not in install_requires: {undeclared}"


def test_every_declared_dependency_is_imported():
    imported = set()
    for path in (ROOT / "danogan_sk").rglob("*.py"):
        imported |= {DISTRIBUTIONS.get(n, n).lower() for n in _imports(path, False)}
    assert _declared() <= imported, _declared() - imported
