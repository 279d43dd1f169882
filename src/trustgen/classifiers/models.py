"""Small image classifiers: a ResNet-style network and a plain VGG-style CNN.

Both map images in [-1, 1] (N×C×H×W) to class logits and expose ``features`` (the penultimate activations),
which the inversion evaluation measures distances in. They are two *different* architectures on purpose: the
model-inversion literature judges an attack on one with the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trustgen.classifiers.config import ArchitectureSettings


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BatchNorm and an identity (or 1×1 projection) shortcut (He et al., 2016)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """3×3 stem, one stage of basic blocks per width (stride 2 from the second stage), global average pooling."""

    def __init__(self, in_channels: int, num_classes: int, arch: ArchitectureSettings) -> None:
        super().__init__()
        widths = list(arch.widths)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, (width, n) in enumerate(zip(widths, arch.blocks, strict=True)):
            for j in range(n):
                layers.append(BasicBlock(cin, width, stride=2 if i > 0 and j == 0 else 1))
                cin = width
        self.stages = nn.Sequential(*layers)
        self.feature_dim = cin
        self.dropout = nn.Dropout(arch.dropout)
        self.fc = nn.Linear(cin, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled activations of the last stage (N × last width)."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


class PlainCNN(nn.Module):
    """Per width two 3×3 conv–BN–ReLU layers and a 2×2 max pool; global average pooling; a fully connected
    ``hidden`` layer (the features); the class layer. No shortcuts."""

    def __init__(self, in_channels: int, num_classes: int, arch: ArchitectureSettings) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for width in arch.widths:
            for _ in range(2):
                layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.convs = nn.Sequential(*layers)
        self.hidden = nn.Linear(cin, arch.hidden)
        self.feature_dim = arch.hidden
        self.dropout = nn.Dropout(arch.dropout)
        self.fc = nn.Linear(arch.hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Activations of the fully connected hidden layer (N × ``hidden``)."""
        return F.relu(self.hidden(self.convs(x).mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


def build_network(arch: ArchitectureSettings, in_channels: int, num_classes: int) -> nn.Module:
    """The network ``arch`` names, for ``in_channels``-channel images and ``num_classes`` classes."""
    if arch.name == "resnet":
        return SmallResNet(in_channels, num_classes, arch)
    return PlainCNN(in_channels, num_classes, arch)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
