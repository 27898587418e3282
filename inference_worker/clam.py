"""CLAM (clustering-constrained attention multiple-instance learning) in plain
torch, for inference on a slide's patch features.

Module and parameter names follow the public CLAM checkpoints
(`attention_net.3.attention_a.0.weight`, `classifiers.weight`,
`instance_classifiers.0.weight`, ...) so that those checkpoints load strictly.
The instance classifiers only matter for CLAM's instance-level training loss;
they are kept so that the state dict matches, and the bag-level forward pass
does not use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

SIZES = {"small": (512, 256), "big": (512, 384)}
KINDS = ("clam_sb", "clam_mb")


class AttnNet(nn.Module):
    """Non-gated attention: Linear, Tanh, [Dropout], Linear."""

    def __init__(self, L: int = 1024, D: int = 256, dropout: float = 0.0, n_classes: int = 1):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(L, D), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(D, n_classes))
        self.module = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.module(x), x


class AttnNetGated(nn.Module):
    """Gated attention: tanh(Wa x) * sigmoid(Wb x), then a linear scorer with
    one output per attention branch."""

    def __init__(self, L: int = 1024, D: int = 256, dropout: float = 0.0, n_classes: int = 1):
        super().__init__()
        branch_a: list[nn.Module] = [nn.Linear(L, D), nn.Tanh()]
        branch_b: list[nn.Module] = [nn.Linear(L, D), nn.Sigmoid()]
        if dropout:
            branch_a.append(nn.Dropout(dropout))
            branch_b.append(nn.Dropout(dropout))
        self.attention_a = nn.Sequential(*branch_a)
        self.attention_b = nn.Sequential(*branch_b)
        self.attention_c = nn.Linear(D, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        A = self.attention_c(self.attention_a(x) * self.attention_b(x))
        return A, x


def _attention_net(*, gate: bool, size: tuple[int, int, int], dropout: float, n_branches: int) -> nn.Sequential:
    # Always Linear, ReLU, Dropout, attention: the attention module is then
    # index 3, as in the public checkpoints.
    attention_cls = AttnNetGated if gate else AttnNet
    return nn.Sequential(
        nn.Linear(size[0], size[1]),
        nn.ReLU(),
        nn.Dropout(dropout),
        attention_cls(L=size[1], D=size[2], dropout=dropout, n_classes=n_branches),
    )


def _bag_features(h: torch.Tensor, embed_dim: int) -> torch.Tensor:
    if h.dim() == 3 and h.shape[0] == 1:
        h = h[0]
    if h.dim() != 2 or h.shape[1] != embed_dim or h.shape[0] == 0:
        raise ValueError(f"expected patch features of shape [N>0, {embed_dim}], got {list(h.shape)}")
    return h


class _CLAM(nn.Module):
    def __init__(
        self,
        gate: bool = True,
        size_arg: str = "small",
        dropout: float = 0.25,
        k_sample: int = 8,
        n_classes: int = 2,
        embed_dim: int = 1024,
    ):
        super().__init__()
        if size_arg not in SIZES:
            raise ValueError(f"size_arg must be one of {sorted(SIZES)}, got {size_arg!r}")
        if n_classes < 2:
            raise ValueError("n_classes must be at least 2")
        self.size = (embed_dim, *SIZES[size_arg])
        self.embed_dim = embed_dim
        self.n_classes = n_classes
        self.k_sample = k_sample
        self.attention_net = _attention_net(
            gate=gate, size=self.size, dropout=dropout, n_branches=self._branches(n_classes)
        )
        self.instance_classifiers = nn.ModuleList(nn.Linear(self.size[1], 2) for _ in range(n_classes))
        self.classifiers = self._classifiers(n_classes)

    @staticmethod
    def _branches(n_classes: int) -> int:
        raise NotImplementedError

    def _classifiers(self, n_classes: int) -> nn.Module:
        raise NotImplementedError

    def _logits(self, M: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """h: [N, embed_dim] features of one slide's patches.

        Returns `logits` and `probabilities` ([1, n_classes]) and `attention`
        ([N], raw scores before the softmax over patches; for CLAM-MB those of
        the predicted class)."""
        h = _bag_features(h, self.embed_dim)
        A, h = self.attention_net(h)  # A: [N, branches]; h: [N, size[1]]
        A_raw = A.transpose(0, 1)  # [branches, N]
        M = F.softmax(A_raw, dim=1) @ h  # [branches, size[1]]
        logits = self._logits(M)
        probabilities = F.softmax(logits, dim=1)
        branch = 0 if A_raw.shape[0] == 1 else int(torch.argmax(logits[0]).item())
        attention = A_raw[branch]
        return {"logits": logits, "probabilities": probabilities, "attention": attention}


class CLAM_SB(_CLAM):
    """Single attention branch shared by all classes."""

    def _classifiers(self, n_classes: int) -> nn.Module:
        return nn.Linear(self.size[1], n_classes)

    @staticmethod
    def _branches(n_classes: int) -> int:
        return 1

    def _logits(self, M: torch.Tensor) -> torch.Tensor:
        return self.classifiers(M)


class CLAM_MB(_CLAM):
    """One attention branch and one bag classifier per class."""

    def _classifiers(self, n_classes: int) -> nn.Module:
        return nn.ModuleList(nn.Linear(self.size[1], 1) for _ in range(n_classes))

    @staticmethod
    def _branches(n_classes: int) -> int:
        return n_classes

    def _logits(self, M: torch.Tensor) -> torch.Tensor:
        # Class c is scored only from the slide representation its own branch built.
        return torch.cat([classifier(M[c]) for c, classifier in enumerate(self.classifiers)]).unsqueeze(0)


def build_model(kind: str = "clam_sb", size: str = "small", n_classes: int = 2, **kwargs: Any) -> _CLAM:
    """A CLAM model in eval mode; `kwargs` go to the constructor (gate,
    dropout, k_sample, embed_dim)."""
    if kind == "clam_sb":
        model: _CLAM = CLAM_SB(size_arg=size, n_classes=n_classes, **kwargs)
    elif kind == "clam_mb":
        model = CLAM_MB(size_arg=size, n_classes=n_classes, **kwargs)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return model.eval()


def read_state_dict(path_or_state_dict: str | Path | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A state dict from a file (loaded with weights_only, onto the CPU) or a
    mapping, unwrapped from a top-level `state_dict` or `model` key and with a
    leading `module.` (from DataParallel) stripped."""
    if isinstance(path_or_state_dict, Mapping):
        raw: Any = path_or_state_dict
    else:
        raw = torch.load(path_or_state_dict, map_location="cpu", weights_only=True)
    if not isinstance(raw, Mapping):
        raise ValueError(f"a checkpoint must hold a state dict, got {type(raw).__name__}")
    for wrapper in ("state_dict", "model"):
        if isinstance(raw.get(wrapper), Mapping):
            raw = raw[wrapper]
            break
    return {key.removeprefix("module."): value for key, value in raw.items()}


def load_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, what: str = "checkpoint") -> None:
    """load_state_dict(strict=True), with a ValueError that names the missing,
    unexpected and mis-shaped keys instead of torch's RuntimeError."""
    expected = module.state_dict()
    # Batch-norm counters are absent from old checkpoints and restored by torch.
    missing = sorted(k for k in expected.keys() - state_dict.keys() if not k.endswith("num_batches_tracked"))
    unexpected = sorted(state_dict.keys() - expected.keys())
    mis_shaped = sorted(
        f"{k} {list(state_dict[k].shape)} != {list(expected[k].shape)}"
        for k in expected.keys() & state_dict.keys()
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    if mis_shaped:
        problems.append(f"shape mismatches: {', '.join(mis_shaped)}")
    if problems:
        raise ValueError(f"{what} does not match {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def load_checkpoint(model: nn.Module, path_or_state_dict: str | Path | Mapping[str, Any]) -> nn.Module:
    """Load a CLAM checkpoint into `model` strictly and return the model in
    eval mode. Raises ValueError naming the keys when it doesn't match."""
    state_dict = {k: v for k, v in read_state_dict(path_or_state_dict).items() if "instance_loss_fn" not in k}
    load_strict(model, state_dict, what="CLAM checkpoint")
    return model.eval()
