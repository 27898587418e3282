"""Patch feature extractors: 1024-d features per RGB patch, the input CLAM
expects.

`ResNet50Trunk` is the usual CLAM extractor: an ImageNet ResNet-50 cut after
layer3, average-pooled. It is written here (no torchvision) with torchvision's
parameter names, so a torchvision ResNet-50 state dict file loads into it.
`TinyExtractor` is a demo/test extractor only: a few randomly initialised
convolutions, fast on a CPU, with no pretrained meaning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from inference_worker.clam import load_strict, read_state_dict

logger = logging.getLogger(__name__)

FEATURE_DIM = 1024
INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def device_select(wanted: str) -> torch.device:
    """`cuda`/`cuda:N` when asked for and available, `auto` picks cuda when
    available; otherwise the CPU, with a warning when cuda was asked for."""
    wanted = wanted.strip().lower()
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted.startswith("cuda"):
        if torch.cuda.is_available():
            return torch.device(wanted)
        logger.warning("device %r was asked for but CUDA is not available: running on the CPU", wanted)
        return torch.device("cpu")
    if wanted == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {wanted!r}")


def preprocess(
    batch_uint8_nhwc: np.ndarray, *, size: int = INPUT_SIZE, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """uint8 RGB patches [B, H, W, 3] -> float [B, 3, size, size], resized
    (bilinear, antialiased) and normalised with the ImageNet mean and std."""
    batch = np.asarray(batch_uint8_nhwc)
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB patches [B, H, W, 3], got {batch.dtype} {list(batch.shape)}")
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class _Extractor(nn.Module):
    input_size = INPUT_SIZE

    def extract(self, batch: np.ndarray) -> torch.Tensor:
        """uint8 RGB patches [B, H, W, 3] -> float32 features [B, 1024] on the CPU."""
        self.eval()
        device = next(self.parameters()).device
        with torch.inference_mode():
            x = preprocess(batch, size=self.input_size, device=device)
            features = self(x.contiguous(memory_format=torch.channels_last))
        return features.float().cpu()


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 convolution)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet50Trunk(_Extractor):
    """ResNet-50 up to layer3 (1024 channels), then global average pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._layer(64, 64, blocks=3, stride=1)
        self.layer2 = self._layer(256, 128, blocks=4, stride=2)
        self.layer3 = self._layer(512, 256, blocks=6, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.eval()

    @staticmethod
    def _layer(inplanes: int, planes: int, *, blocks: int, stride: int) -> nn.Sequential:
        layers = [Bottleneck(inplanes, planes, stride)]
        layers += [Bottleneck(planes * Bottleneck.expansion, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def load_weights(self, path_or_state_dict: str | Path | Mapping[str, Any]) -> ResNet50Trunk:
        """Load a torchvision ResNet-50 state dict (file or mapping): layer4
        and fc are dropped, everything else must match. Raises ValueError
        naming the keys otherwise."""
        state_dict = {
            k: v for k, v in read_state_dict(path_or_state_dict).items() if not k.startswith(("layer4.", "fc."))
        }
        load_strict(self, state_dict, what="ResNet-50 weights")
        return self.eval()


class TinyExtractor(_Extractor):
    """Demo/test extractor, not a pathology model: four random strided
    convolutions pooled to 2x2, i.e. 1024-d. Same seed, same weights."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 256, kernel_size=3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
        )
        generator = torch.Generator().manual_seed(seed)
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(m.bias)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.features(x), 1)


def build_extractor(kind: str = "resnet50", *, weights: str | Path | None = None, seed: int = 0) -> _Extractor:
    """`resnet50` (with `weights`, a torchvision ResNet-50 state dict file,
    when given) or the demo `tiny` extractor, its weights in channels-last
    order like the batches `extract` gives it (1.2-1.6x faster convolutions
    on a CPU, bench/RESULTS.md)."""
    if kind == "resnet50":
        extractor = ResNet50Trunk()
        if weights is not None:
            extractor.load_weights(weights)
    elif kind == "tiny":
        extractor = TinyExtractor(seed=seed)
    else:
        raise ValueError(f"extractor kind must be 'resnet50' or 'tiny', got {kind!r}")
    return extractor.to(memory_format=torch.channels_last)
