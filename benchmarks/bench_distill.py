"""Student top-1 with and without distillation on the sample clarity set, side by side in one run.

    .venv/bin/python benchmarks/bench_distill.py [--num 400] [--unlabelled 400] [--epochs 12] [--size 64]

Three trainings on `edgeclas data sample --task clarity` (same data, same seed, same schedule):
a ResNet18_vd teacher; the PP-LCNet x0.25 student alone (CELoss on the labelled images); the same
student distilled from the frozen teacher as PULC's SKL-UGI does (DistillationDMLLoss on the labelled
and the unlabelled images, plus DistillationGTCELoss on the labelled ones). Prints each model's best
validation top-1 and the time it took. The sample set is small, so the numbers say whether the
mechanism helps here, not what PULC reaches on real data.

Measured once with the defaults on the shared 2-core machine (load average ~7 from other work), 28 min:
teacher ResNet18_vd 0.6250 (637 s), student alone 0.6250 (33 s), student distilled 0.5375 (441 s), on
80 validation images (one image = 0.0125). From scratch at 64x64 in 12 epochs the teacher learns
little more than chance, so here it has nothing to teach: distillation needs a teacher that is
better than the student (PULC's is ImageNet-pretrained and trained on the task first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _recipe import demo_recipe_for  # benchmarks/ is on sys.path when a script runs


def _common(data: Path, out: Path, epochs: int, size: int, batch: int) -> list[str]:
    return [f"Global.dataset_dir={data}", f"Global.output_dir={out}", f"Global.epochs={epochs}",
            f"Global.image_shape=[3, {size}, {size}]", f"DataLoader.Train.sampler.batch_size={batch}",
            f"DataLoader.Train.dataset.transform_ops.1.RandCropImage.size={size}",
            f"DataLoader.Eval.dataset.transform_ops.1.ResizeImage.resize_short={round(size * 73 / 64)}",
            f"DataLoader.Eval.dataset.transform_ops.2.CropImage.size={size}",
            "Optimizer.lr.learning_rate=0.05", "Optimizer.lr.warmup_epoch=1"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=400, help="labelled images (train + val)")
    ap.add_argument("--unlabelled", type=int, default=400, help="extra images without a label")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--size", type=int, default=64, help="input side (square)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--teacher", default="ResNet18_vd")
    ap.add_argument("--student", default="PPLCNet_x0_25")
    args = ap.parse_args(argv)

    from edgeclas.data import sample
    from edgeclas.models import arch_options
    from edgeclas.train import train

    print(f"distillation on the sample clarity set: {args.num} labelled + {args.unlabelled} unlabelled images, "
          f"{args.size}x{args.size}, {args.epochs} epochs, batch {args.batch}, cpu cores {os.cpu_count()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_distill.") as tmp:
        work = Path(tmp)
        data = sample("clarity", work / "data", num=args.num, seed=0, unlabelled=args.unlabelled).root

        def run(name: str, arch: str, overrides: list[str]):
            recipe, dropped = demo_recipe_for(arch, work / "recipes")
            t0 = time.perf_counter()
            r = train(recipe, _common(data, work / name, args.epochs, args.size, args.batch) + overrides)
            rows.append((name, r.best_metrics.get("top1", float("nan")), time.perf_counter() - t0))
            return r, dropped

        teacher, _ = run(f"teacher {args.teacher}", args.teacher, [])
        run(f"student {args.student} alone", args.student, [])
        # The student keeps the demo's options it takes (stride_list, …), as a member of the DistillationModel.
        _, demo_options = demo_recipe_for("DistillationModel", work / "recipes")
        student = {"name": args.student, **{k: v for k, v in demo_options.items() if k in arch_options(args.student)}}
        models = [{"Teacher": {"name": args.teacher, "pretrained": str(teacher.best)}}, {"Student": student}]
        run(f"student {args.student} distilled", "DistillationModel", [
            "Arch.freeze_params_list=[True, False]", "Arch.infer_model_name=Student",
            f"Arch.models={json.dumps(models)}",
            "Loss.Train=[{'DistillationDMLLoss': {'model_name_pairs': [['Student', 'Teacher']]}}, "
            "{'DistillationGTCELoss': {'model_names': ['Student'], 'epsilon': 0.1}}]",
        ])
    print()
    print(f"{'model':40s} {'val top-1':>9s} {'seconds':>8s}")
    for name, top1, secs in rows:
        print(f"{name:40s} {top1:9.4f} {secs:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
