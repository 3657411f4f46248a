"""Argument checks shared by the public functions: clear errors, never a silent NaN."""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor


def check_tensor(x: object, name: str) -> Tensor:
    """Raise ``TypeError`` naming ``name`` unless ``x`` is a floating-point tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension (the categories), got a scalar")
    return x


def check_logits(logits: object, name: str = "logits") -> Tensor:
    """Floating tensor without NaN or +inf (``-inf`` is allowed: it means "never")."""
    logits = check_tensor(logits, name)
    if logits.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one category, got shape {tuple(logits.shape)}")
    if logits.numel():
        _check_top(logits.amax().item(), name)  # one pass: max propagates NaN
    return logits


def _check_top(top: float, name: str) -> None:
    """Raise if ``top``, a maximum over logits (NaN-propagating), reveals NaN or +inf."""
    if math.isnan(top):
        raise ValueError(f"{name} contains NaN")
    if top == math.inf:
        raise ValueError(f"{name} contains +inf; use finite values (-inf is allowed and masks)")


def check_tau(tau: object) -> float:
    """``tau`` must be a finite real number > 0."""
    if type(tau) is float and 0.0 < tau < math.inf:  # the common case, without ABC checks
        return tau
    if isinstance(tau, Tensor):
        if tau.numel() != 1:
            raise ValueError(f"tau must be a scalar, got shape {tuple(tau.shape)}")
        tau = tau.item()
    if isinstance(tau, bool) or not isinstance(tau, Real):
        raise TypeError(f"tau must be a real number, got {type(tau).__name__}")
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0, got {tau}")
    return tau


def check_dim(x: Tensor, dim: int, name: str = "dim") -> int:
    """Normalise ``dim`` to a non-negative axis of ``x``."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"{name}={dim} is out of range for a tensor with {x.dim()} dimensions")
    return dim % x.dim()


def masked_logits(
    logits: Tensor, mask: Tensor | None, dim: int = -1, *, name: str = "logits", check_rows: bool = True
) -> Tensor:
    """Checked logits with ``-inf`` where ``mask`` is False.

    Without a mask the check is a single reduction over ``logits`` (the row maxima).

    Args:
        logits: (..., m) scores; NaN or +inf raise ``ValueError``.
        mask: bool, broadcastable to ``logits``; True = may be selected.
        dim: the categorical axis.
        name: the argument's name in error messages.
        check_rows: ``False`` skips the row check (NaN, +inf, no selectable position)
            for callers that detect those from their own output and then call again.

    Raises:
        ValueError: if a row along ``dim`` has no selectable position.
    """
    logits = check_tensor(logits, name)
    dim = check_dim(logits, dim)
    if logits.shape[dim] == 0:
        raise ValueError(f"{name} must have at least one category, got shape {tuple(logits.shape)}")
    if mask is not None:
        check_logits(logits, name)  # NaN or +inf raise even where masked
        if not isinstance(mask, Tensor):
            raise TypeError(f"mask must be a bool torch.Tensor, got {type(mask).__name__}")
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must have dtype torch.bool, got {mask.dtype}")
        try:
            shape = torch.broadcast_shapes(mask.shape, logits.shape)
        except RuntimeError:
            shape = None
        if shape != logits.shape:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to "
                f"{name} of shape {tuple(logits.shape)}"
            )
        logits = logits.masked_fill(~mask.to(logits.device), float("-inf"))
    if not (check_rows and logits.numel()):
        return logits
    low, high = (t.item() for t in torch.aminmax(logits.amax(dim=dim)))  # range of the row maxima
    _check_top(high, name)
    if low == -math.inf:
        who = "mask" if mask is not None else name
        raise ValueError(f"{who} leaves a row with no selectable position (all masked or -inf)")
    return logits


def compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for half-precision inputs (their noise and softmax are computed in float32)."""
    return torch.promote_types(x.dtype, torch.float32)


def masked_to_zero(logits: Tensor) -> Tensor:
    """Logits with -inf (masked) entries set to 0, for surrogates linear in the logits."""
    return logits.masked_fill(torch.isneginf(logits), 0.0)


def check_min_fields(obj: object, names: tuple[str, ...], minimum: int = 2) -> None:
    """Raise ``ValueError`` naming the first field of a config dataclass below ``minimum``."""
    for name in names:
        if getattr(obj, name) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {getattr(obj, name)}")
