"""Momentum with L2 decay and a cosine learning rate after a linear warm-up, stepped once per iteration."""

from __future__ import annotations

from typing import Any

__all__ = ["build_optimizer"]


def build_optimizer(cfg: dict[str, Any], parameters, steps_per_epoch: int, epochs: int):
    """Returns ``(optimizer, lr_scheduler)``. BN parameters carry their own ``L2Decay(0)`` and skip decay."""
    import paddle
    from paddle.optimizer import lr as lr_sched

    lr_cfg = cfg["lr"]
    base = float(lr_cfg["learning_rate"])
    warmup_steps = int(round(float(lr_cfg["warmup_epoch"]) * steps_per_epoch))
    total = max(1, epochs * steps_per_epoch)
    schedule = lr_sched.CosineAnnealingDecay(learning_rate=base, T_max=max(1, total - warmup_steps),
                                             eta_min=float(lr_cfg["eta_min"]))
    if warmup_steps > 0:
        schedule = lr_sched.LinearWarmup(learning_rate=schedule, warmup_steps=warmup_steps,
                                         start_lr=float(lr_cfg["warmup_start_lr"]), end_lr=base)
    decay = paddle.regularizer.L2Decay(float(cfg["regularizer"]["coeff"]))
    clip = paddle.nn.ClipGradByNorm(float(cfg["clip_norm"])) if cfg.get("clip_norm") else None
    opt = paddle.optimizer.Momentum(learning_rate=schedule, momentum=float(cfg["momentum"]),
                                    parameters=parameters, weight_decay=decay, grad_clip=clip)
    return opt, schedule
