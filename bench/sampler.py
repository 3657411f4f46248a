"""``ha.gumbel_softmax`` against ``torch.nn.functional.gumbel_softmax``: speed and finiteness."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import hardattn_utils as ha

from ._timing import paired

SHAPES = [(64, 10), (1024, 100), (4096, 1024)]
TAU = 0.5
#: throughput targets (ratio ha / torch) per shape, from issue 11
TARGETS = {(64, 10): 0.9, (1024, 100): 1.0, (4096, 1024): 1.0}


def _forward_backward(sampler, logits: torch.Tensor, weight: torch.Tensor, hard: bool):
    """One draw and the backward pass of a fixed linear read of it."""

    def run() -> None:
        logits.grad = None
        (sampler(logits, tau=TAU, hard=hard) * weight).sum().backward()

    return run


def throughput_rows(rounds: int = 41) -> list[dict[str, object]]:
    """One row per (shape, hard, pass): median times and the throughput ratio ours / torch's."""
    rows = []
    for batch, categories in SHAPES:
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(batch, categories, generator=gen)
        leaf, weight = logits.clone().requires_grad_(True), torch.randn(batch, categories, generator=gen)
        for hard in (False, True):
            for mode in ("forward", "forward+backward"):
                if mode == "forward":
                    ours = lambda: ha.gumbel_softmax(logits, tau=TAU, hard=hard)  # noqa: B023, E731
                    theirs = lambda: F.gumbel_softmax(logits, tau=TAU, hard=hard)  # noqa: B023, E731
                else:
                    ours = _forward_backward(ha.gumbel_softmax, leaf, weight, hard)
                    theirs = _forward_backward(F.gumbel_softmax, leaf, weight, hard)
                res = paired(ours, theirs, rounds=rounds)
                target = TARGETS[(batch, categories)]
                rows.append(
                    {
                        "(batch, categories)": f"({batch}, {categories})",
                        "hard": hard,
                        "pass": mode,
                        "ha (µs)": res["ours_s"] * 1e6,
                        "torch (µs)": res["theirs_s"] * 1e6,
                        "throughput ratio ha/torch": res["ratio"],
                        "ratio range": f"{res['ratio_min']:.2f}–{res['ratio_max']:.2f}",
                        "target": f"≥ {target}",
                        "met": "yes" if res["ratio"] >= target else "no",
                    }
                )
    return rows


def _cases() -> list[tuple[str, torch.Tensor, float]]:
    gen = torch.Generator().manual_seed(1)
    wide = 1e4 * torch.randn(4096, 1024, generator=gen).sign()
    return [
        ("logits ±1e4, tau 0.1", wide, 0.1),
        ("logits ±1e4 in float16, tau 1", wide.half(), 1.0),
        ("logits ±1e30, tau 1e-10", 1e26 * wide, 1e-10),
        ("one -inf per row (masked), tau 1", wide.index_fill(1, torch.tensor([0]), float("-inf")), 1.0),
    ]


def finiteness_rows(draws: int = 4) -> list[dict[str, object]]:
    """Count non-finite outputs of both samplers on extreme inputs (4096 × 1024 per draw)."""
    rows = []
    torch.manual_seed(0)  # torch's sampler uses the global generator: make its draws repeatable
    for label, logits, tau in _cases():
        counts = {"ha": 0, "torch": 0}
        for _ in range(draws):
            for hard in (False, True):
                counts["ha"] += int((~torch.isfinite(ha.gumbel_softmax(logits, tau=tau, hard=hard))).sum())
                counts["torch"] += int((~torch.isfinite(F.gumbel_softmax(logits, tau=tau, hard=hard))).sum())
        rows.append(
            {
                "input": label,
                "outputs": 2 * draws * logits.numel(),
                "non-finite (ha)": counts["ha"],
                "non-finite (torch)": counts["torch"],
            }
        )
    return rows
