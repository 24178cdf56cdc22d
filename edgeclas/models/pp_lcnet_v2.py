"""PP-LCNetV2 (PaddleClas ``legendary_models/pp_lcnet_v2.py``), same parameter names: ``stem``,
``stages.N`` (blocks with ``dw_conv_list``/``dw_conv``/``se``/``pw_conv[_1|_2]``), ``last_conv``, ``fc``.

Blocks with ``use_rep`` train parallel depthwise conv+BN branches (kernels 5, 3, 1) and can run
inference through one fused depthwise conv (``dw_conv``, with bias) computed from them by
:func:`reparameterize`: call it after loading weights and before export. Until then eval runs the
branches (same outputs, slower).
"""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import KaimingNormal
from paddle.regularizer import L2Decay

from ._common import flatten_to_classifier, make_divisible, sigmoid

__all__ = ["PPLCNetV2", "STAGES", "reparameterize"]

# Per stage: in channels (scale 1.0), dw kernel, split pointwise, re-parameterised dw, SE, shortcut.
STAGES: dict[str, tuple[int, int, bool, bool, bool, bool]] = {
    "stage1": (64, 3, False, False, False, False),
    "stage2": (128, 3, False, False, False, False),
    "stage3": (256, 5, True, True, True, False),
    "stage4": (512, 5, False, True, False, True),
}


class ConvBNLayer(nn.Layer):
    def __init__(self, in_c: int, out_c: int, kernel: int, stride: int, groups: int = 1, use_act: bool = True) -> None:
        super().__init__()
        self.use_act = use_act
        self.conv = nn.Conv2D(in_c, out_c, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                              weight_attr=ParamAttr(initializer=KaimingNormal()), bias_attr=False)
        self.bn = nn.BatchNorm2D(out_c, weight_attr=ParamAttr(regularizer=L2Decay(0.0)),
                                 bias_attr=ParamAttr(regularizer=L2Decay(0.0)))
        if use_act:
            self.act = nn.ReLU()

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.act(x) if self.use_act else x


class SEModule(nn.Layer):
    def __init__(self, channel: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channel, channel // reduction, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channel // reduction, channel, 1)

    def forward(self, x):
        # A true sigmoid here (PaddleClas names it hardsigmoid). `*`, not paddle.multiply: in Paddle
        # 3.3.1 the latter traces only into PIR, not into the legacy programs Paddle Lite reads.
        return x * sigmoid(self.conv2(self.relu(self.conv1(self.avg_pool(x)))))


class RepDepthwiseSeparable(nn.Layer):
    def __init__(self, in_c: int, out_c: int, stride: int, dw_size: int = 3, split_pw: bool = False,
                 use_rep: bool = False, use_se: bool = False, use_shortcut: bool = False) -> None:
        super().__init__()
        self.is_repped = False
        self.dw_size, self.split_pw, self.use_rep, self.use_se = dw_size, split_pw, use_rep, use_se
        self.use_shortcut = use_shortcut and stride == 1 and in_c == out_c
        if use_rep:
            self.dw_conv_list = nn.LayerList([
                ConvBNLayer(in_c, in_c, k, stride, groups=in_c, use_act=False)
                for k in range(dw_size, 0, -2)
                if not (k == 1 and stride != 1)  # a strided 1x1 branch would sample other pixels
            ])
            self.dw_conv = nn.Conv2D(in_c, in_c, dw_size, stride=stride, padding=(dw_size - 1) // 2, groups=in_c)
        else:
            self.dw_conv = ConvBNLayer(in_c, in_c, dw_size, stride, groups=in_c)
        self.act = nn.ReLU()
        if use_se:
            self.se = SEModule(in_c)
        if split_pw:
            mid = int(out_c * 0.5)
            self.pw_conv_1 = ConvBNLayer(in_c, mid, 1, 1)
            self.pw_conv_2 = ConvBNLayer(mid, out_c, 1, 1)
        else:
            self.pw_conv = ConvBNLayer(in_c, out_c, 1, 1)

    def forward(self, x):
        identity = x
        if self.use_rep:
            if self.is_repped and not self.training:
                x = self.act(self.dw_conv(x))
            else:
                y = self.dw_conv_list[0](x)
                for branch in self.dw_conv_list[1:]:
                    y = y + branch(x)
                x = self.act(y)
        else:
            x = self.dw_conv(x)
        if self.use_se:
            x = self.se(x)
        x = self.pw_conv_2(self.pw_conv_1(x)) if self.split_pw else self.pw_conv(x)
        return x + identity if self.use_shortcut else x

    @paddle.no_grad()
    def rep(self) -> None:
        """Fold every conv+BN branch into ``dw_conv`` (kernels zero-padded to the largest size)."""
        kernel, bias = 0, 0
        for branch in self.dw_conv_list:
            bn = branch.bn
            std = (bn._variance + bn._epsilon).sqrt()
            k = branch.conv.weight * (bn.weight / std).reshape((-1, 1, 1, 1))
            pad = (self.dw_size - k.shape[-1]) // 2
            kernel = kernel + (F.pad(k, [pad, pad, pad, pad]) if pad else k)
            bias = bias + bn.bias - bn._mean * bn.weight / std
        self.dw_conv.weight.set_value(kernel)
        self.dw_conv.bias.set_value(bias)
        self.is_repped = True


def reparameterize(model: nn.Layer) -> None:
    """Fuse the branches of every re-parameterised block into its ``dw_conv`` (after loading, before export)."""
    for layer in model.sublayers():
        if isinstance(layer, RepDepthwiseSeparable) and layer.use_rep:
            layer.rep()


class PPLCNetV2(nn.Layer):
    def __init__(self, scale: float = 1.0, depths: tuple[int, ...] = (2, 2, 6, 2), class_num: int = 1000,
                 dropout_prob: float = 0.2, use_last_conv: bool = True, class_expand: int = 1280) -> None:
        super().__init__()
        self.use_last_conv = use_last_conv
        self.stem = nn.Sequential(
            ConvBNLayer(3, make_divisible(32 * scale), 3, 2),
            RepDepthwiseSeparable(make_divisible(32 * scale), make_divisible(64 * scale), 1, dw_size=3),
        )
        self.stages = nn.LayerList()
        for (in_c, k, split_pw, use_rep, use_se, shortcut), depth in zip(STAGES.values(), depths):
            self.stages.append(nn.Sequential(*[
                RepDepthwiseSeparable(make_divisible((in_c if i == 0 else in_c * 2) * scale),
                                      make_divisible(in_c * 2 * scale), 2 if i == 0 else 1, dw_size=k,
                                      split_pw=split_pw, use_rep=use_rep, use_se=use_se, use_shortcut=shortcut)
                for i in range(depth)
            ]))
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        feat = make_divisible(STAGES["stage4"][0] * 2 * scale)
        if use_last_conv:
            self.last_conv = nn.Conv2D(feat, class_expand, 1, bias_attr=False)
            self.act = nn.ReLU()
            self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
            feat = class_expand
        self.fc = nn.Linear(feat, class_num)

    def set_state_dict(self, state_dict, use_structured_name=True):
        # New weights make any fused kernel stale: fall back to the branches until re-fused.
        for layer in self.sublayers():
            if isinstance(layer, RepDepthwiseSeparable):
                layer.is_repped = False
        return super().set_state_dict(state_dict, use_structured_name=use_structured_name)

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        x = self.avg_pool(x)
        if self.use_last_conv:
            x = self.dropout(self.act(self.last_conv(x)))
        return self.fc(flatten_to_classifier(x))
