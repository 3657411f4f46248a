"""Soft against hard attention reads as the number of positions m and the width d grow.

A soft read touches every value: softmax over m scores plus an (m × d) weighted sum,
about ``m·d + m`` operations. A hard read takes an argmax over m scores and copies one
row of d values: about ``m + d``. The scores themselves (one dot product of width d per
position, ``m·d``) cost both the same, so with them included the expected ratio is
``(2·m·d + m) / (m·d + m + d)``, which never exceeds 2.
"""

from __future__ import annotations

import torch

import hardattn_utils as ha

from ._timing import paired

M_VALUES = [64, 256, 1024, 4096, 16384]
D_VALUES = [16, 64, 256, 512]


def expected_ratios(m: int, d: int) -> tuple[float, float]:
    """Operation-count ratios soft/hard: the read alone, and the read with its scores."""
    return (m * d + m) / (m + d), (2 * m * d + m) / (m * d + m + d)


def read_rows(rounds: int = 15) -> list[dict[str, object]]:
    """One row per (m, d): measured and expected soft/hard cost ratios for one query."""
    rows = []
    for m in M_VALUES:
        for d in D_VALUES:
            gen = torch.Generator().manual_seed(m + d)
            keys, values = torch.randn(2, m, d, generator=gen)  # (m, d) each
            query = torch.randn(d, generator=gen)
            scores = keys @ query  # (m,)
            read = paired(
                lambda: ha.hard_attention(scores, values),  # noqa: B023
                lambda: ha.soft_attention(scores, values),  # noqa: B023
                rounds=rounds,
                block_s=0.02,
            )
            full = paired(
                lambda: ha.hard_attention(keys @ query, values),  # noqa: B023
                lambda: ha.soft_attention(keys @ query, values),  # noqa: B023
                rounds=rounds,
                block_s=0.02,
            )
            alone, with_scores = expected_ratios(m, d)
            rows.append(
                {
                    "m": m,
                    "d": d,
                    "soft read (µs)": read["theirs_s"] * 1e6,
                    "hard read (µs)": read["ours_s"] * 1e6,
                    "read ratio soft/hard": read["ratio"],
                    "expected (ops)": alone,
                    "with scores: ratio": full["ratio"],
                    "with scores: expected": with_scores,
                }
            )
    return rows
