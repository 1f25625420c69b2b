"""The import graph of the project's packages: no cycles, and the engine imports without torch.

The graph is built with ``ast`` from every ``import`` statement, including those inside
functions, so a cycle cannot hide behind a function-local import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "training", "faceinpaint_app")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    files = {module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # "engine.face.detect_faces" -> "engine.face"
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "engine.errors" in graph["engine.cli_common"]
    assert "engine.models.base" in graph["engine.cli_inpaint"]
    assert "training.export" in graph["training.cli"]  # imported inside a function
    assert sum(len(targets) for targets in graph.values()) > 100


def test_no_import_cycles():
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as err:
        pytest.fail("import cycle: " + " -> ".join(err.args[1]))


NO_TORCH = """
import sys
import numpy as np
import engine, engine.models, engine.masks, engine.maskops, engine.imageio, engine.face, engine.cli_inpaint
from engine.models import MODELS, create_model, list_models
from engine.models.base import InpaintRequest
assert [info.name for info in list_models()][:2] == ["telea", "navier-stokes"]
for spec in MODELS.values():
    spec.weights_status()
    spec.settings_schema()
image = np.zeros((48, 48, 3), np.uint8)
mask = np.zeros((48, 48), np.uint8)
mask[10:20, 10:20] = 255
for name in ("telea", "navier-stokes"):
    create_model(name).inpaint(InpaintRequest(image, mask))
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


def test_the_engine_lists_checks_and_runs_the_baselines_without_torch():
    out = subprocess.run([sys.executable, "-c", NO_TORCH], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"torch was imported: {out.stdout[:300]}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_of_the_package_is_in_the_graph(package):
    assert any(node == package or node.startswith(package + ".") for node in import_graph())
