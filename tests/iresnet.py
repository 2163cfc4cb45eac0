"""A face-recognition ResNet of ArcFace's "iresnet" design, written from the architecture's
description (insightface's ``iresnet.py``), for the whole-model tests: small widths and inputs so
that the tests stay fast, the structure and attribute names as the original.

* Stem: ``conv1`` (3x3, stride 1, no bias) -> ``bn1`` -> ``prelu`` (one slope per channel).
* Stages ``layer1`` .. ``layer4`` (``nn.Sequential`` of blocks), the first block of each with
  stride 2. An ``IBasicBlock``: ``bn1`` -> ``conv1`` (3x3) -> ``bn2`` -> ``prelu`` -> ``conv2``
  (3x3, the stride) -> ``bn3``, plus the shortcut (``downsample``: conv 1x1 with the stride and a
  BatchNorm, where the shape changes), added in place (``out += identity``) as the original does.
* Head: ``bn2`` -> ``torch.flatten(x, 1)`` -> ``dropout`` -> ``fc`` (Linear) -> ``features``
  (BatchNorm1d, the embedding).

``IResNet((2, 2, 2, 2), widths=(64, 128, 256, 512), size=112)`` is iresnet18 at its real size;
the tests use ``small_iresnet()``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["IBasicBlock", "IResNet", "randomized", "small_iresnet"]


def conv3x3(inplanes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.bn1(x)
        out = self.conv1(out)
        out = self.bn2(out)
        out = self.prelu(out)
        out = self.conv2(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return out


class IResNet(nn.Module):
    def __init__(self, layers: tuple[int, ...] = (2, 2, 2, 2), widths: tuple[int, ...] = (64, 128, 256, 512),
                 size: int = 112, num_features: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes, eps=1e-05)
        self.prelu = nn.PReLU(self.inplanes)
        self.layer1 = self._make_layer(widths[0], layers[0], stride=2)
        self.layer2 = self._make_layer(widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(widths[3], layers[3], stride=2)
        self.bn2 = nn.BatchNorm2d(widths[3], eps=1e-05)
        self.dropout = nn.Dropout(p=dropout, inplace=True)
        for _ in range(4):
            size = (size + 1) // 2
        self.fc = nn.Linear(widths[3] * size * size, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-05)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes, eps=1e-05),
            )
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [IBasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.prelu(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.bn2(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        x = self.features(x)
        return x


def small_iresnet(seed: int = 0) -> IResNet:
    """An iresnet of blocks (1, 2, 1, 1) and widths (4, 8, 8, 16) on 3x16x16 images, 32-d embedding,
    made by :func:`randomized`."""
    torch.manual_seed(seed)
    return randomized(IResNet((1, 2, 1, 1), widths=(4, 8, 8, 16), size=16, num_features=32), seed)


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` in evaluation mode, its BatchNorm statistics and affine arrays and its PReLU slopes
    set away from their defaults (so that a converter that drops them is caught)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=generator))
                module.weight.copy_(1 + 0.1 * torch.randn(module.num_features, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.num_features, generator=generator))
            elif isinstance(module, nn.PReLU):
                module.weight.copy_(0.1 + 0.3 * torch.rand(module.weight.shape, generator=generator))
    return model.eval()
