"""Reproducibility and run-size switches shared by every chapter.

Chapter 1 (set-up cell) explains the ``FULL`` switch; every notebook calls
:func:`set_seed` once in its set-up cell.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._checks import check_int

__all__ = ["NUM_THREADS", "full", "scaled", "set_full", "set_seed"]

#: Number of CPU threads torch uses in the notebooks. Training results depend on
#: torch's thread count, so it is pinned rather than inherited from the machine.
#: One thread: the book's models are small, and measured here a training step of
#: them took several times less CPU on one thread than on two (which spin-wait).
NUM_THREADS = 1


def _env_full() -> bool:
    return os.environ.get("HARDATTN_FULL", "").strip().lower() in {"1", "true", "yes"}


#: The switch itself; read it through :func:`full` (``ha.FULL`` does).
_state = {"full": _env_full()}


def set_full(flag: bool) -> bool:
    """Switch the long version on or off; the environment variable wins if set.

    Args:
        flag: ``True`` for the long version.

    Returns:
        The mode now in force (``flag or HARDATTN_FULL``).
    """
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be a bool, got {type(flag).__name__}")
    _state["full"] = flag or _env_full()
    return _state["full"]


def full() -> bool:
    """Whether the long version is on (:func:`set_full` or ``HARDATTN_FULL=1``).

    ``ha.FULL`` reads this function too, so it is always current.
    """
    return _state["full"]


def scaled(quick: int, full: int | None = None) -> int:
    """Pick a run size: ``quick`` normally, ``full`` (default ``10 * quick``) in FULL mode.

    Args:
        quick: size used for the ≤ 60 s version of a notebook.
        full: size used when the FULL switch is on.
    """
    quick = check_int(quick, "quick", minimum=1)
    long = 10 * quick if full is None else check_int(full, "full", minimum=1)
    return long if _state["full"] else quick


def set_seed(seed: int = 0, *, num_threads: int | None = NUM_THREADS) -> torch.Generator:
    """Seed Python, NumPy and torch, and pin torch's thread count.

    Args:
        seed: the seed for every generator.
        num_threads: threads for torch's CPU kernels (``None`` leaves it alone).

    Returns:
        A fresh ``torch.Generator`` seeded with ``seed``, for functions that take
        ``generator=``.
    """
    seed = check_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if num_threads is not None:
        torch.set_num_threads(check_int(num_threads, "num_threads", minimum=1))
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
