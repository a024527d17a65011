"""VGG-19 for CIFAR-10, written the way the course notes have students write it: a block class, then the network.

    python app.py --model docs/examples/notes_vgg19.py:VGG19
    cnnviz summary docs/examples/notes_vgg19.py:VGG19

or, in a notebook: ``from visualizer import show; show(VGG19())``.

ConvBlock1 is two 3×3 convs, ConvBlock2 four; each conv is followed by BatchNorm and ReLU, and each block ends
in a 2×2 max-pool that halves the map: 32 → 16 → 8 → 4 → 2 → 1. Five blocks, 2 + 2 + 4 + 4 + 4 = 16 convs, then
three linear layers: the 19 of VGG-19.
(합성곱 블록 다섯 개: 3×3 합성곱 16개와 선형층 3개, 모두 19층.)
"""

import torch.nn as nn


class ConvBlock1(nn.Module):
    # two 3x3 convs: together they see 5x5 with 18 weights per channel pair instead of 25
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1),  # padding 1 keeps H and W
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),  # halves H and W
        )

    def forward(self, x):
        return self.layer(x)


class ConvBlock2(nn.Module):
    # four 3x3 convs: the receptive field grows by 2 with each one
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )

    def forward(self, x):
        return self.layer(x)


class VGG19(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.feature = nn.Sequential(
            ConvBlock1(3, 64),  # 3x32x32 -> 64x16x16
            ConvBlock1(64, 128),  # -> 128x8x8
            ConvBlock2(128, 256),  # -> 256x4x4
            ConvBlock2(256, 512),  # -> 512x2x2
            ConvBlock2(512, 512),  # -> 512x1x1
        )
        self.fc_layer = nn.Sequential(
            nn.Linear(512, 512),  # 512x1x1 flattened
            nn.ReLU(),
            nn.Linear(512, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),  # one score per class
        )

    def forward(self, x):
        out = self.feature(x)
        out = out.view(out.size(0), -1)  # flatten: batch x 512
        out = self.fc_layer(out)
        return out
