"""The course notes' CIFAR-10 models (32×32 input), layer for layer.

Shapes and parameter counts match the notes' code; the only liberty taken is using ``nn.ReLU``
modules instead of ``F.relu`` so that every activation shows up in the per-layer table.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vgg import cfgs as tv_vgg_cfgs
from torchvision.models.vgg import make_layers as tv_make_layers


class AlexNetCIFAR(nn.Module):
    """AlexNet shrunk for 32×32 inputs: five convs (3×3 and one 1×1), three max-pools, three FCs."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3),  # 32 → 30 (no padding in the notes)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # → 15
            nn.Conv2d(64, 192, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # → 7
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # → 3
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 * 3 * 3, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(1024, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)  # the notes' x.view(x.size(0), 256 * 3 * 3)
        return self.classifier(x)


class BasicBlock(nn.Module):
    """Two 3×3 conv+BN, shortcut added before the last ReLU; 1×1 conv+BN shortcut when the shape changes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """ResNet for 32×32: 3×3 stem without max-pool, four stages (64/128/256/512), AvgPool2d(4), one FC."""

    def __init__(self, num_blocks: list[int], num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(512, num_blocks[3], stride=2)
        self.avgpool = nn.AvgPool2d(4)  # 4×4 → 1×1 at 32×32 input
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = torch.flatten(self.avgpool(out), 1)
        return self.linear(out)


# VGG-19 for CIFAR-10: (2, 2, 4, 4, 4) convs per block, widths 64..512, each block ends in a max-pool.
VGG19_CIFAR_CFG: list[int | str] = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
]


def make_vgg_features(cfg: list[int | str], batch_norm: bool, in_channels: int = 3) -> nn.Sequential:
    """torchvision's ``make_layers``: ints are 3×3 conv widths (padding 1), ``"M"`` a 2×2 max-pool."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        in_channels = int(v)
    return nn.Sequential(*layers)


def cifar_vgg_head(num_classes: int) -> nn.Sequential:
    """The notes' 512 → 512 → 128 → classes head (a 1×1×512 feature map after five pools)."""
    return nn.Sequential(
        nn.Linear(512, 512),
        nn.ReLU(inplace=True),
        nn.Linear(512, 128),
        nn.ReLU(inplace=True),
        nn.Linear(128, num_classes),
    )


class VGGCIFAR(nn.Module):
    def __init__(self, features: nn.Sequential, num_classes: int = 10) -> None:
        super().__init__()
        self.features = features
        self.classifier = cifar_vgg_head(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def alexnet_cifar(num_classes: int = 10) -> AlexNetCIFAR:
    return AlexNetCIFAR(num_classes)


def resnet18_cifar(num_classes: int = 10) -> ResNetCIFAR:
    return ResNetCIFAR([2, 2, 2, 2], num_classes)


def resnet34_cifar(num_classes: int = 10) -> ResNetCIFAR:
    return ResNetCIFAR([3, 4, 6, 3], num_classes)


def vgg19_cifar(num_classes: int = 10) -> VGGCIFAR:
    return VGGCIFAR(make_vgg_features(VGG19_CIFAR_CFG, batch_norm=True), num_classes)


def vgg19_finetune_cifar(num_classes: int = 10) -> VGGCIFAR:
    """torchvision VGG-19's ``features`` (config "E", no BatchNorm) with the notes' CIFAR head.

    The zoo loads the ImageNet weights into ``features`` when asked for a pretrained model.
    """
    return VGGCIFAR(tv_make_layers(tv_vgg_cfgs["E"], batch_norm=False), num_classes)
