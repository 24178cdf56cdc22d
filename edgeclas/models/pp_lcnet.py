"""PP-LCNet (PaddleClas ``legendary_models/pp_lcnet.py``), written here with the same parameter
names so PaddleClas ``.pdparams`` load unchanged: ``conv1``, ``blocks2``…``blocks6`` (each a
sequence of depthwise-separable blocks ``dw_conv``/``se``/``pw_conv``), ``last_conv``, ``fc``.

One option PaddleClas does not have: ``bn_weight_init``, the initial BatchNorm scale (PaddleClas: 1).
It matters only when training from scratch (pretrained weights replace it): docs/training.md.
"""

from __future__ import annotations

from typing import Sequence

import paddle
import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import KaimingNormal
from paddle.regularizer import L2Decay

from ..errors import ConfigError
from ._common import flatten_to_classifier, make_act, make_divisible

__all__ = ["PPLCNet", "STAGES"]

# One row per depthwise-separable block: kernel, in channels, out channels, stride, squeeze-excite.
# Channels are for scale 1.0; the first stride of blocks3..6 can be overridden by ``stride_list``.
STAGES: dict[str, list[tuple[int, int, int, int, bool]]] = {
    "blocks2": [(3, 16, 32, 1, False)],
    "blocks3": [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    "blocks4": [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    "blocks5": [(3, 128, 256, 2, False)] + [(5, 256, 256, 1, False)] * 5,
    "blocks6": [(5, 256, 512, 2, True), (5, 512, 512, 1, True)],
}
_LAST_CHANNELS = STAGES["blocks6"][-1][2]


class ConvBNLayer(nn.Layer):
    def __init__(self, in_c: int, kernel: int, out_c: int, stride: int, groups: int = 1,
                 lr_mult: float = 1.0, act: str = "hardswish") -> None:
        super().__init__()
        self.conv = nn.Conv2D(in_c, out_c, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                              weight_attr=ParamAttr(initializer=KaimingNormal(), learning_rate=lr_mult),
                              bias_attr=False)
        # BN scale/shift are excluded from weight decay, as in PaddleClas.
        self.bn = nn.BatchNorm2D(out_c, weight_attr=ParamAttr(regularizer=L2Decay(0.0), learning_rate=lr_mult),
                                 bias_attr=ParamAttr(regularizer=L2Decay(0.0), learning_rate=lr_mult))
        self.act = make_act(act)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SEModule(nn.Layer):
    def __init__(self, channel: int, reduction: int = 4, lr_mult: float = 1.0) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channel, channel // reduction, 1, weight_attr=ParamAttr(learning_rate=lr_mult),
                               bias_attr=ParamAttr(learning_rate=lr_mult))
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channel // reduction, channel, 1, weight_attr=ParamAttr(learning_rate=lr_mult),
                               bias_attr=ParamAttr(learning_rate=lr_mult))
        self.hardsigmoid = nn.Hardsigmoid()

    def forward(self, x):
        w = self.hardsigmoid(self.conv2(self.relu(self.conv1(self.avg_pool(x)))))
        # `*`, not paddle.multiply: in Paddle 3.3.1 the latter traces only into PIR, not legacy programs.
        return x * w


class DepthwiseSeparable(nn.Layer):
    def __init__(self, in_c: int, out_c: int, stride: int, dw_size: int, use_se: bool,
                 lr_mult: float, act: str) -> None:
        super().__init__()
        self.use_se = use_se
        self.dw_conv = ConvBNLayer(in_c, dw_size, in_c, stride, groups=in_c, lr_mult=lr_mult, act=act)
        if use_se:
            self.se = SEModule(in_c, lr_mult=lr_mult)
        self.pw_conv = ConvBNLayer(in_c, 1, out_c, 1, lr_mult=lr_mult, act=act)

    def forward(self, x):
        x = self.dw_conv(x)
        if self.use_se:
            x = self.se(x)
        return self.pw_conv(x)


class PPLCNet(nn.Layer):
    def __init__(self, scale: float = 1.0, class_num: int = 1000, dropout_prob: float = 0.2,
                 class_expand: int = 1280, lr_mult_list: Sequence[float] = (1.0,) * 6,
                 stride_list: Sequence[int] = (2, 2, 2, 2, 2), use_last_conv: bool = True,
                 act: str = "hardswish", bn_weight_init: float = 1.0) -> None:
        super().__init__()
        if len(lr_mult_list) != 6:
            raise ConfigError(f"lr_mult_list needs 6 values (stem + 5 stages), got {len(lr_mult_list)}")
        if len(stride_list) != 5:
            raise ConfigError(f"stride_list needs 5 values (stem + blocks3..6), got {len(stride_list)}")
        self.use_last_conv = use_last_conv
        self.conv1 = ConvBNLayer(3, 3, make_divisible(16 * scale), stride_list[0], lr_mult=lr_mult_list[0], act=act)
        for i, (name, rows) in enumerate(STAGES.items()):
            blocks = []
            for j, (k, in_c, out_c, s, se) in enumerate(rows):
                if j == 0 and name != "blocks2":
                    s = stride_list[i]
                blocks.append(DepthwiseSeparable(make_divisible(in_c * scale), make_divisible(out_c * scale), s, k,
                                                 se, lr_mult_list[i + 1], act))
            setattr(self, name, nn.Sequential(*blocks))
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        feat = make_divisible(_LAST_CHANNELS * scale)
        if use_last_conv:
            self.last_conv = nn.Conv2D(feat, class_expand, 1, bias_attr=False)
            self.act = make_act(act)
            self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
            feat = class_expand
        self.fc = nn.Linear(feat, class_num)
        if bn_weight_init != 1.0:
            # A small BN scale starts the 27-layer stack near-linear (hardswish of small inputs); from scratch on
            # the demo's 320 images 0.2 reached 0.9 val top-1 with every seed tried, 1.0 with some (docs/training.md).
            for layer in self.sublayers():
                if isinstance(layer, nn.BatchNorm2D):
                    layer.weight.set_value(paddle.full(layer.weight.shape, float(bn_weight_init), layer.weight.dtype))

    def forward(self, x):
        x = self.conv1(x)
        for name in STAGES:
            x = getattr(self, name)(x)
        x = self.avg_pool(x)
        if self.use_last_conv:
            x = self.dropout(self.act(self.last_conv(x)))
        return self.fc(flatten_to_classifier(x))
