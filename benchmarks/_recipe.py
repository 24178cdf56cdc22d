"""The demo recipe (training/demo_clarity.yaml) for another architecture, for the benchmark scripts.

The demo recipe carries PP-LCNet options in its ``Arch`` section (``stride_list``, ``bn_weight_init``), which
``-o Arch.name=ResNet18_vd`` would leave beside an arch that refuses them. :func:`demo_recipe_for` writes a
copy whose ``Arch`` keeps only the options the chosen arch takes and returns the ones it set aside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_RECIPE = ROOT / "training" / "demo_clarity.yaml"


def demo_recipe_for(arch: str, work: Path) -> tuple[Path, dict[str, Any]]:
    """(a recipe file for ``arch`` written under ``work``, the demo's Arch options ``arch`` does not take)."""
    import yaml

    from edgeclas.models import arch_options

    cfg = yaml.safe_load(DEMO_RECIPE.read_text())
    demo_options = [k for k in arch_options(cfg["Arch"]["name"]) if k in cfg["Arch"]]
    dropped = {k: cfg["Arch"].pop(k) for k in demo_options if k not in arch_options(arch)}
    cfg["Arch"]["name"] = arch
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"demo_clarity_{arch}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, dropped
