"""ResNet_vd (PaddleClas ``legendary_models/resnet.py``, version "vd"), same parameter names:
``stem.0``…``stem.2`` (three 3×3 convs instead of one 7×7), ``blocks.N`` (``conv0``/``conv1``[/``conv2``]
and ``short`` where the shape changes, each a ``conv`` + ``bn``), ``fc``.

The "vd" shortcut downsamples with a 2×2 average pool followed by a stride-1 1×1 conv instead of a
stride-2 1×1 conv that would drop three pixels out of four. These are the usual distillation teachers
(ResNet50_vd, ResNet101_vd) of PaddleClas's SSLD and PULC recipes.
"""

from __future__ import annotations

import math
from typing import Sequence

import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import Uniform

from ..errors import ConfigError
from ._common import flatten_to_classifier

__all__ = ["ResNetVd", "DEPTHS"]

# depth → (bottleneck blocks?, blocks per stage). Stage widths are fixed: 64, 128, 256, 512
# (times 4 at the output of a bottleneck block).
DEPTHS: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
}
_WIDTHS = (64, 128, 256, 512)
_STEM = ((3, 32), (32, 32), (32, 64))  # in, out channels of the three 3×3 stem convs; only the first strides


class ConvBNLayer(nn.Layer):
    def __init__(self, in_c: int, out_c: int, kernel: int, stride: int = 1, act: bool = True,
                 avg_down: bool = False, lr_mult: float = 1.0) -> None:
        super().__init__()
        self.avg_down = avg_down
        if avg_down:  # ceil_mode + SAME: an odd-sized map keeps its last row/column, as PaddleClas's
            self.avg_pool = nn.AvgPool2D(2, stride=stride, padding="SAME", ceil_mode=True)
        self.conv = nn.Conv2D(in_c, out_c, kernel, stride=1 if avg_down else stride, padding=(kernel - 1) // 2,
                              weight_attr=ParamAttr(learning_rate=lr_mult), bias_attr=False)
        # No L2Decay(0) on BN here: PaddleClas's ResNet decays BN scale/shift with everything else.
        self.bn = nn.BatchNorm2D(out_c, weight_attr=ParamAttr(learning_rate=lr_mult),
                                 bias_attr=ParamAttr(learning_rate=lr_mult))
        self.relu = nn.ReLU() if act else None

    def forward(self, x):
        if self.avg_down:
            x = self.avg_pool(x)
        x = self.bn(self.conv(x))
        return x if self.relu is None else self.relu(x)


class BasicBlock(nn.Layer):
    expansion = 1

    def __init__(self, in_c: int, width: int, stride: int, shortcut: bool, first: bool, lr_mult: float) -> None:
        super().__init__()
        self.conv0 = ConvBNLayer(in_c, width, 3, stride, lr_mult=lr_mult)
        self.conv1 = ConvBNLayer(width, width, 3, act=False, lr_mult=lr_mult)
        self.shortcut = shortcut
        if not shortcut:
            self.short = ConvBNLayer(in_c, width, 1, stride, act=False, avg_down=not first, lr_mult=lr_mult)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv1(self.conv0(x))
        return self.relu(y + (x if self.shortcut else self.short(x)))


class BottleneckBlock(nn.Layer):
    expansion = 4

    def __init__(self, in_c: int, width: int, stride: int, shortcut: bool, first: bool, lr_mult: float) -> None:
        super().__init__()
        self.conv0 = ConvBNLayer(in_c, width, 1, lr_mult=lr_mult)
        self.conv1 = ConvBNLayer(width, width, 3, stride, lr_mult=lr_mult)
        self.conv2 = ConvBNLayer(width, width * 4, 1, act=False, lr_mult=lr_mult)
        self.shortcut = shortcut
        if not shortcut:
            self.short = ConvBNLayer(in_c, width * 4, 1, stride, act=False, avg_down=not first, lr_mult=lr_mult)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv2(self.conv1(self.conv0(x)))
        return self.relu(y + (x if self.shortcut else self.short(x)))


class ResNetVd(nn.Layer):
    def __init__(self, depth: int = 50, class_num: int = 1000, lr_mult_list: Sequence[float] = (1.0,) * 5,
                 stride_list: Sequence[int] = (2, 2, 2, 2, 2)) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ConfigError(f"ResNet_vd depth {depth} is not implemented",
                              hint=f"use one of: {', '.join(map(str, DEPTHS))}")
        if len(lr_mult_list) != 5:
            raise ConfigError(f"lr_mult_list needs 5 values (stem + 4 stages), got {len(lr_mult_list)}")
        if len(stride_list) != 5:
            raise ConfigError(f"stride_list needs 5 values (stem, max pool, stages 2..4), got {len(stride_list)}")
        bottleneck, counts = DEPTHS[depth]
        block = BottleneckBlock if bottleneck else BasicBlock
        self.stem = nn.Sequential(*[
            ConvBNLayer(in_c, out_c, 3, stride_list[0] if i == 0 else 1, lr_mult=lr_mult_list[0])
            for i, (in_c, out_c) in enumerate(_STEM)
        ])
        self.max_pool = nn.MaxPool2D(3, stride=stride_list[1], padding=1)
        blocks, in_c = [], _STEM[-1][1]
        for stage, (width, n) in enumerate(zip(_WIDTHS, counts)):
            for i in range(n):
                stride = stride_list[stage + 1] if i == 0 and stage > 0 else 1
                # The first block of every stage has a projection shortcut (even 64→64 in ResNet18/34:
                # PaddleClas's variant); only the very first one skips the average pool.
                blocks.append(block(in_c, width, stride, shortcut=i > 0, first=stage == 0 and i == 0,
                                    lr_mult=lr_mult_list[stage + 1]))
                in_c = width * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        stdv = 1.0 / math.sqrt(in_c)
        self.fc = nn.Linear(in_c, class_num, weight_attr=ParamAttr(initializer=Uniform(-stdv, stdv)))

    def forward(self, x):
        x = self.avg_pool(self.blocks(self.max_pool(self.stem(x))))
        return self.fc(flatten_to_classifier(x))
