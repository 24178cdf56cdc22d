"""No module imports a module above it: the layers of docs/architecture.md, checked on the source (static AST).

Every ``import``/``from … import`` in ``edgeclas/`` counts, those inside functions too (a lazy import is still
a dependency). Names loaded by string (``importlib.import_module``: doctor providers, SDK items, an engine's
``check_model``) are plugin hooks and not edges. A module may import its own layer or any layer below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A module belongs to the entry that is the longest dotted prefix of its name.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("edgeclas", "edgeclas.errors", "edgeclas.device.errors", "edgeclas.paths", "edgeclas.fsutil",
                    "edgeclas.stats", "edgeclas.doctor")),
    ("facts", ("edgeclas.manifest", "edgeclas.preprocess", "edgeclas.model_dir", "edgeclas.targets",
               "edgeclas.parsers", "edgeclas.lite.formats", "edgeclas.bench.schema",
               "edgeclas.bench.results")),
    ("tools and devices", ("edgeclas.sdk", "edgeclas.device", "edgeclas.emulator", "edgeclas.models",
                           "edgeclas.data")),
    ("model stages", ("edgeclas.train", "edgeclas.search", "edgeclas.export", "edgeclas.onnx_convert", "edgeclas.lite",
                      "edgeclas.engines", "edgeclas.predict")),
    ("serve", ("edgeclas.serve",)),
    ("build", ("edgeclas.build",)),
    ("deploy", ("edgeclas.deploy",)),
    ("verify", ("edgeclas.verify",)),
    ("report", ("edgeclas.report",)),
    ("bench", ("edgeclas.bench",)),
    ("pipeline", ("edgeclas.pipeline",)),
    ("demo", ("edgeclas.demo",)),
    ("cli", ("edgeclas.cli",)),
]


def modules(root: Path) -> dict[str, Path]:
    """Dotted name → file of every module under ``root/edgeclas``."""
    out = {}
    for p in sorted((root / "edgeclas").rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[tuple[str, int]]:
    """(imported edgeclas module, line) for every import statement in one module."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: that many packages up from this module's package
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import mod` imports the module pkg.mod when there is one, else a name of pkg
            candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for c in candidates:
            while c not in known and "." in c:  # `import edgeclas.x.y` → the module that exists
                c = c.rsplit(".", 1)[0]
            if c in known and c != name:
                found.add((c, node.lineno))
    return found


def layer_of(name: str) -> int | None:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best and (p != "edgeclas" or name == p):
                best, level = len(p), i
    return level


def upward_imports(root: Path) -> list[str]:
    known = modules(root)
    problems = []
    for name, path in known.items():
        mine = layer_of(name)
        if mine is None:
            problems.append(f"{path.relative_to(root)}: module {name} is in no layer (place it in docs/architecture.md "
                            "and tests/test_layers.py)")
            continue
        for target, line in sorted(imports(name, path, known)):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                problems.append(f"{path.relative_to(root)}:{line}: {name} ({LAYERS[mine][0]}) imports {target} "
                                f"({LAYERS[theirs][0]}), a layer above it")
    return problems


def test_no_module_imports_a_layer_above_it():
    assert upward_imports(ROOT) == []


def test_an_added_upward_import_is_caught(tmp_path):
    """The check itself: a copy of a few modules, one with an import up two layers, must fail it."""
    for rel in ("edgeclas/__init__.py", "edgeclas/stats.py", "edgeclas/parsers/__init__.py",
                "edgeclas/parsers/clas_system.py", "edgeclas/bench/__init__.py", "edgeclas/bench/runner.py",
                "edgeclas/bench/results.py", "edgeclas/bench/schema.py", "edgeclas/report/__init__.py",
                "edgeclas/report/table.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    assert upward_imports(tmp_path) == []
    parser = tmp_path / "edgeclas/parsers/clas_system.py"
    parser.write_text(parser.read_text() + "\n\ndef _late():\n    from ..bench import runner\n")
    table = tmp_path / "edgeclas/report/table.py"
    table.write_text(table.read_text().replace("from ..bench.results import", "from ..bench.runner import"))
    problems = upward_imports(tmp_path)
    assert len(problems) == 2, problems
    assert "edgeclas.parsers.clas_system (facts) imports edgeclas.bench.runner (bench)" in problems[0] + problems[1]
    assert "edgeclas.report.table (report) imports edgeclas.bench.runner (bench)" in problems[0] + problems[1]
    (tmp_path / "edgeclas/newstage.py").write_text("")
    assert any("module edgeclas.newstage is in no layer" in p for p in upward_imports(tmp_path))


def test_docs_list_the_same_layers():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("|")][2:]
    documented = [(cells[0].strip(), tuple(m.strip(" `") for m in cells[1].split(",")))
                  for cells in (ln.strip("|").split("|") for ln in rows)]
    assert documented == list(reversed(LAYERS))


@pytest.mark.parametrize("name, layer", [
    ("edgeclas", "foundation"), ("edgeclas.device.errors", "foundation"), ("edgeclas.device.lock", "tools and devices"),
    ("edgeclas.bench.results", "facts"), ("edgeclas.bench.runner", "bench"), ("edgeclas.cli.bench", "cli"),
])
def test_longest_prefix_decides(name, layer):
    assert LAYERS[layer_of(name)][0] == layer
