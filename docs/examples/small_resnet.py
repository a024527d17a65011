"""A small ResNet for CIFAR-10 with a hand-written residual block: the shortcut is either the block's input itself
(identity) or, when the block halves the map and widens it, a 1×1 conv with stride 2 and BatchNorm (projection).

    python app.py --model docs/examples/small_resnet.py:SmallResNet
    python app.py --model docs/examples/small_resnet.py:SmallResNet --model-args '{"blocks_per_stage": 3}'

Three stages of 16, 32 and 64 channels on 32×32, 16×16 and 8×8 maps (He et al.'s CIFAR ResNets; two blocks per
stage give 6·2 + 2 = 14 weighted layers), global average pooling, one linear layer.
(잔차 블록: 입력을 그대로 더하거나(항등), 크기가 바뀌면 1×1 합성곱으로 맞춰서(투영) 더합니다.)
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            # the map is halved and widened: the input must be too before it can be added
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.skip = None  # same shape: add the input as it is

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.skip is None else self.skip(x)
        return F.relu(out + identity)  # F(x) + x: the block learns what to add


class SmallResNet(nn.Module):
    def __init__(self, num_classes=10, blocks_per_stage=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        stages = []
        in_channels = 16
        for i, channels in enumerate([16, 32, 64]):
            for j in range(blocks_per_stage):
                stride = 2 if (i > 0 and j == 0) else 1  # the first block of stages 2 and 3 halves the map
                stages.append(ResidualBlock(in_channels, channels, stride))
                in_channels = channels
        self.blocks = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)  # 64x8x8 -> 64x1x1
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)
