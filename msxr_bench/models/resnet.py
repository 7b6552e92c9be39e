"""ResNet trunks in plain torch with torchvision's exact module and parameter names (conv1, bn1,
layer1..4 of BasicBlock/Bottleneck with downsample.0/.1, fc), so torchvision-format state_dicts (BioViL,
GLoRIA, ConVIRT checkpoints) load strictly. v1.5: the stride of a Bottleneck sits on its 3x3 conv.

Beyond torchvision: `width` scales every stage (64 = the standard nets) and `depth` accepts tiny
configurations for quick training runs (10/14/26). The forward returns every stage's map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

# depth -> (block kind, blocks per stage)
RESNET_DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    10: ("basic", (1, 1, 1, 1)),
    14: ("bottleneck", (1, 1, 1, 1)),
    18: ("basic", (2, 2, 2, 2)),
    26: ("bottleneck", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: int = 1) -> None:
        super().__init__()
        if dilation > 1:
            raise NotImplementedError("BasicBlock does not support dilation (as in torchvision)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, v1.5), 1x1 expand x4, with a shortcut (ResNet-50 and deeper)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNetFeatures(NamedTuple):
    """The output map of each stage: strides 4, 8, 16 and 32 (without dilation)."""

    layer1: torch.Tensor
    layer2: torch.Tensor
    layer3: torch.Tensor
    layer4: torch.Tensor


class ResNet(nn.Module):
    """torchvision's ResNet layout; `forward` returns all stage maps, `classify` the fc logits."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, int, int, int],
                 width: int = 64, num_classes: int | None = 1000, in_channels: int = 3,
                 dilate: tuple[bool, bool, bool] = (False, False, False)) -> None:
        super().__init__()
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"blocks must be 4 positive stage lengths, got {blocks}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        self.block = block
        self.width = width
        self.inplanes = width
        self.dilation = 1
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, blocks[0])
        self.layer2 = self._make_layer(block, width * 2, blocks[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, width * 4, blocks[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, width * 8, blocks[3], stride=2, dilate=dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes) if num_classes else None
        self.dilate = tuple(dilate)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, n_blocks: int,
                    stride: int = 1, dilate: bool = False) -> nn.Sequential:
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, previous_dilation)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dilation=self.dilation) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    @property
    def out_channels(self) -> dict[str, int]:
        e = self.block.expansion
        return {f"layer{i + 1}": self.width * 2**i * e for i in range(4)}

    def output_size(self, size: int, layer: str = "layer4") -> int:
        """Spatial side of a stage's map for an input side `size` (each stride-2 step is a ceil-halving)."""
        n_strided = {"layer1": 2, "layer2": 3, "layer3": 4, "layer4": 5}[layer]
        n_strided -= sum(self.dilate[: max(0, int(layer[-1]) - 1)])
        for _ in range(n_strided):
            size = (size + 1) // 2
        return size

    def forward(self, x: torch.Tensor) -> ResNetFeatures:
        if self.conv1.weight.is_contiguous(memory_format=torch.channels_last):  # see `channels_last`
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return ResNetFeatures(x1, x2, x3, x4)

    def pool(self, layer4: torch.Tensor) -> torch.Tensor:
        """Global average pool of a layer4 map: [B, C]."""
        return torch.flatten(self.avgpool(layer4), 1)



def channels_last(module: nn.Module) -> nn.Module:
    """`module` with its convolution weights in channels-last (NHWC) layout; its ResNets then run on
    channels-last inputs. Same values, other strides: on CPU (oneDNN) a ResNet-50 forward at 480 px runs about
    1.3x faster, and GPUs prefer it for reduced precision. The adapters use it for inference."""
    return module.to(memory_format=torch.channels_last)


def resnet(depth: int = 50, width: int = 64, num_classes: int | None = 1000, in_channels: int = 3,
           dilate: tuple[bool, bool, bool] = (False, False, False)) -> ResNet:
    """A ResNet of a standard depth (18/34/50/101/152) or a tiny one (10/14/26); width 64 = standard."""
    if depth not in RESNET_DEPTHS:
        raise ValueError(f"unsupported ResNet depth {depth}; choose one of {sorted(RESNET_DEPTHS)}")
    kind, blocks = RESNET_DEPTHS[depth]
    block = Bottleneck if kind == "bottleneck" else BasicBlock
    return ResNet(block, blocks, width=width, num_classes=num_classes, in_channels=in_channels, dilate=dilate)
