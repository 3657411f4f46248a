"""Reproducibility and run-size switches shared by every chapter.

Chapter 1 (set-up cell) explains the ``FULL`` switch; every notebook calls
:func:`set_seed` once in its set-up cell.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["FULL", "NUM_THREADS", "device", "full", "scaled", "set_full", "set_seed"]

#: Number of CPU threads torch uses in the notebooks. Training results depend on
#: torch's thread count, so it is pinned rather than inherited from the machine.
#: One thread: the book's models are small, and measured here a training step of
#: them took several times less CPU on one thread than on two (which spin-wait).
NUM_THREADS = 1


def _env_full() -> bool:
    return os.environ.get("HARDATTN_FULL", "").strip().lower() in {"1", "true", "yes"}


#: ``True`` runs the long ("paper-scale") version of every notebook. Set it with
#: :func:`set_full` or the environment variable ``HARDATTN_FULL=1``.
FULL: bool = _env_full()


def set_full(flag: bool) -> bool:
    """Switch the long version on or off; the environment variable wins if set.

    Args:
        flag: ``True`` for the long version.

    Returns:
        The mode now in force (``flag or HARDATTN_FULL``).
    """
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be a bool, got {type(flag).__name__}")
    global FULL
    FULL = flag or _env_full()
    return FULL


def full() -> bool:
    """Whether the long version is on (:func:`set_full` or ``HARDATTN_FULL=1``).

    Read the switch through this function: a name imported from this module
    (``from .config import FULL``) keeps the value it had at import.
    """
    return FULL


def scaled(quick: int, full: int | None = None) -> int:
    """Pick a run size: ``quick`` normally, ``full`` (default ``10 * quick``) in FULL mode.

    Args:
        quick: size used for the ≤ 60 s version of a notebook.
        full: size used when :data:`FULL` is on.
    """
    if isinstance(quick, bool) or not isinstance(quick, int) or quick < 1:
        raise ValueError(f"quick must be a positive int, got {quick!r}")
    if full is not None and (isinstance(full, bool) or not isinstance(full, int) or full < 1):
        raise ValueError(f"full must be a positive int or None, got {full!r}")
    if not FULL:  # the module's current value (`full` here is the argument)
        return quick
    return 10 * quick if full is None else full


def set_seed(seed: int = 0, *, num_threads: int | None = NUM_THREADS) -> torch.Generator:
    """Seed Python, NumPy and torch, and pin torch's thread count.

    Args:
        seed: the seed for every generator.
        num_threads: threads for torch's CPU kernels (``None`` leaves it alone).

    Returns:
        A fresh ``torch.Generator`` seeded with ``seed``, for functions that take
        ``generator=``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        torch.set_num_threads(num_threads)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def device() -> torch.device:
    """The device the FULL versions run on: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
