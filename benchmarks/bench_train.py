"""Training throughput on this CPU: images/s of the optimiser step alone and of the whole loop.

    .venv/bin/python benchmarks/bench_train.py [--archs PPLCNet_x0_25,PPLCNet_x1_0] [--size 64] [--batch 16]

"step" times forward + backward + Momentum update on one fixed batch (the compute alone); "loop" runs
`edgeclas.train.train` with the demo recipe on the sample clarity set (decode, augmentation and
bookkeeping included). The ratio loop/step is the share of time the network gets. Numbers on a
shared 2-core machine are noisy: compare ratios within one run. FINDINGS.md measured ≈160 img/s
for PPLCNet_x0_25 at 64² (batch 16) on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _recipe import demo_recipe_for  # benchmarks/ is on sys.path when a script runs


def _step_ips(arch: str, options: dict, size: int, batch: int, steps: int) -> float:
    import numpy as np
    import paddle

    from edgeclas.models import build_model

    paddle.seed(0)
    model = build_model(arch, 2, **options)  # the options the loop's recipe gives (stride_list, …)
    model.train()
    opt = paddle.optimizer.Momentum(0.01, 0.9, parameters=model.parameters())
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32))
    y = paddle.to_tensor(np.arange(batch, dtype=np.int64) % 2)
    times = []
    for i in range(steps + 2):  # two warm-up steps
        t0 = time.perf_counter()
        loss = paddle.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def _loop_ips(recipe: Path, arch: str, size: int, batch: int, steps: int, data: Path, work: Path) -> float:
    from edgeclas.train import train

    resize = round(size * 73 / 64)
    r = train(recipe, [
        f"Global.dataset_dir={data}", f"Global.output_dir={work / arch}", "Global.epochs=1",
        f"Global.steps_per_epoch={steps}", f"Global.image_shape=[3, {size}, {size}]",
        f"DataLoader.Train.sampler.batch_size={batch}", f"DataLoader.Train.dataset.transform_ops.1.RandCropImage.size={size}",
        f"DataLoader.Eval.dataset.transform_ops.1.ResizeImage.resize_short={resize}",
        f"DataLoader.Eval.dataset.transform_ops.2.CropImage.size={size}", "Global.eval_during_train=False",
    ])
    return r.images_per_sec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="PPLCNet_x0_25,PPLCNet_x1_0", help="architectures, comma-separated")
    ap.add_argument("--size", type=int, default=64, help="input side (square)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    args = ap.parse_args(argv)

    import yaml

    from edgeclas.data import sample
    from edgeclas.models import arch_options

    archs = [a for a in args.archs.split(",") if a]
    print(f"training throughput: input {args.size}x{args.size}, batch {args.batch}, {args.steps} steps, "
          f"cpu cores {os.cpu_count()}, paddle CPU", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        work = Path(tmp)
        data = sample("clarity", work / "data", num=max(64, args.batch * (args.steps + 2)), seed=0).root
        rows = []
        for arch in archs:
            recipe, _ = demo_recipe_for(arch, work / "recipes")
            arch_cfg = yaml.safe_load(recipe.read_text())["Arch"]
            options = {k: v for k, v in arch_cfg.items() if k in arch_options(arch)}
            step = _step_ips(arch, options, args.size, args.batch, args.steps)
            loop = _loop_ips(recipe, arch, args.size, args.batch, args.steps, data, work)
            rows.append((arch, step, loop))
    print()
    print(f"{'arch':24s} {'step img/s':>10s} {'loop img/s':>10s} {'loop/step':>9s}")
    for arch, step, loop in rows:
        print(f"{arch:24s} {step:10.1f} {loop:10.1f} {loop / step:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
