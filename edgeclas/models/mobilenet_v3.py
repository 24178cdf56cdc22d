"""MobileNetV3 small/large (PaddleClas ``legendary_models/mobilenet_v3.py``), same parameter names:
``conv``, ``blocks.N`` (``expand_conv``/``bottleneck_conv``/``mid_se``/``linear_conv``),
``last_second_conv``, ``last_conv``, ``fc``.
"""

from __future__ import annotations

import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.regularizer import L2Decay

from ..errors import ConfigError
from ._common import flatten_to_classifier, make_act, make_divisible

__all__ = ["MobileNetV3", "CONFIGS"]

# One row per inverted-residual block: kernel, expanded channels, out channels, SE, activation, stride.
CONFIGS: dict[str, list[tuple[int, int, int, bool, str, int]]] = {
    "large": [
        (3, 16, 16, False, "relu", 1),
        (3, 64, 24, False, "relu", 2),
        (3, 72, 24, False, "relu", 1),
        (5, 72, 40, True, "relu", 2),
        (5, 120, 40, True, "relu", 1),
        (5, 120, 40, True, "relu", 1),
        (3, 240, 80, False, "hardswish", 2),
        (3, 200, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1),
        (3, 480, 112, True, "hardswish", 1),
        (3, 672, 112, True, "hardswish", 1),
        (5, 672, 160, True, "hardswish", 2),
        (5, 960, 160, True, "hardswish", 1),
        (5, 960, 160, True, "hardswish", 1),
    ],
    "small": [
        (3, 16, 16, True, "relu", 2),
        (3, 72, 24, False, "relu", 2),
        (3, 88, 24, False, "relu", 1),
        (5, 96, 40, True, "hardswish", 2),
        (5, 240, 40, True, "hardswish", 1),
        (5, 240, 40, True, "hardswish", 1),
        (5, 120, 48, True, "hardswish", 1),
        (5, 144, 48, True, "hardswish", 1),
        (5, 288, 96, True, "hardswish", 2),
        (5, 576, 96, True, "hardswish", 1),
        (5, 576, 96, True, "hardswish", 1),
    ],
}
_SQUEEZE = {"large": 960, "small": 576}  # channels of the last 1x1 conv before pooling (scale 1.0)
_STEM = 16


class ConvBNLayer(nn.Layer):
    def __init__(self, in_c: int, out_c: int, kernel: int, stride: int, groups: int = 1,
                 act: str | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2D(in_c, out_c, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                              bias_attr=False)
        self.bn = nn.BatchNorm2D(out_c, weight_attr=ParamAttr(regularizer=L2Decay(0.0)),
                                 bias_attr=ParamAttr(regularizer=L2Decay(0.0)))
        self.act = make_act(act)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x if self.act is None else self.act(x)


class SEModule(nn.Layer):
    def __init__(self, channel: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channel, channel // reduction, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channel // reduction, channel, 1)

    def forward(self, x):
        w = self.conv2(self.relu(self.conv1(self.avg_pool(x))))
        # PaddleClas trains MobileNetV3 with slope 0.2 (nn.Hardsigmoid's is 1/6): keep it so its weights fit.
        # `*`, not paddle.multiply: in Paddle 3.3.1 the latter traces only into PIR, not legacy programs.
        return x * F.hardsigmoid(w, slope=0.2, offset=0.5)


class ResidualUnit(nn.Layer):
    def __init__(self, in_c: int, mid_c: int, out_c: int, kernel: int, stride: int, use_se: bool, act: str) -> None:
        super().__init__()
        self.if_shortcut = stride == 1 and in_c == out_c
        self.if_se = use_se
        self.expand_conv = ConvBNLayer(in_c, mid_c, 1, 1, act=act)
        self.bottleneck_conv = ConvBNLayer(mid_c, mid_c, kernel, stride, groups=mid_c, act=act)
        if use_se:
            self.mid_se = SEModule(mid_c)
        self.linear_conv = ConvBNLayer(mid_c, out_c, 1, 1, act=None)

    def forward(self, x):
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.if_se:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.if_shortcut else y


class MobileNetV3(nn.Layer):
    def __init__(self, size: str = "large", scale: float = 1.0, class_num: int = 1000, class_expand: int = 1280,
                 dropout_prob: float = 0.2) -> None:
        super().__init__()
        if size not in CONFIGS:
            raise ConfigError(f"MobileNetV3 size '{size}' is unknown", hint="use 'large' or 'small'")
        rows = CONFIGS[size]
        self.conv = ConvBNLayer(3, make_divisible(_STEM * scale), 3, 2, act="hardswish")
        in_c = make_divisible(_STEM * scale)
        blocks = []
        for k, exp, c, se, act, s in rows:
            out_c = make_divisible(c * scale)
            blocks.append(ResidualUnit(in_c, make_divisible(exp * scale), out_c, k, s, se, act))
            in_c = out_c
        self.blocks = nn.Sequential(*blocks)
        squeeze = make_divisible(_SQUEEZE[size] * scale)
        self.last_second_conv = ConvBNLayer(in_c, squeeze, 1, 1, act="hardswish")
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.last_conv = nn.Conv2D(squeeze, class_expand, 1, bias_attr=False)
        self.hardswish = nn.Hardswish()
        self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
        self.fc = nn.Linear(class_expand, class_num)

    def forward(self, x):
        x = self.avg_pool(self.last_second_conv(self.blocks(self.conv(x))))
        x = self.dropout(self.hardswish(self.last_conv(x)))
        return self.fc(flatten_to_classifier(x))
