"""Argument checks, run once at the public entry points: clear errors, never a silent NaN.

One error type per kind of mistake: a value of the wrong type raises ``TypeError``,
a value of the right type outside its range raises ``ValueError``; every message
names the argument. Internal callers pass checked values to unchecked cores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import torch
from torch import Tensor


def check_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``.

    Raises:
        TypeError: if ``value`` is not an integer (``bool`` and ``2.0`` included).
        ValueError: if it lies outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value}")
    return int(value)


def check_real(
    value: object,
    name: str,
    *,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    open_min: bool = False,
    open_max: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval from ``minimum`` to ``maximum``.

    Raises:
        TypeError: if ``value`` is not a real number (``bool`` included).
        ValueError: if it is NaN, infinite or outside the interval (``open_*`` excludes an end).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    below = value <= minimum if open_min else value < minimum
    above = value >= maximum if open_max else value > maximum
    if not math.isfinite(value) or below or above:
        raise ValueError(
            f"{name} must be a finite number {_interval(minimum, maximum, open_min, open_max)}, got {value}"
        )
    return value


def _interval(minimum: float, maximum: float, open_min: bool, open_max: bool) -> str:
    """``> 0``, ``>= 0`` or ``in [0, 1)``: the allowed range in words."""
    if maximum == math.inf:
        return f"{'>' if open_min else '>='} {minimum:g}" if minimum > -math.inf else "(any)"
    return f"in {'(' if open_min else '['}{minimum:g}, {maximum:g}{')' if open_max else ']'}"


def check_callable(value: object, name: str) -> Callable:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


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
        _check_top(logits.detach().amax().item(), name)  # one pass: max propagates NaN
    return logits


def _check_top(top: float, name: str) -> None:
    """Raise if ``top``, a maximum over logits (NaN-propagating), reveals NaN or +inf."""
    if math.isnan(top):
        raise ValueError(f"{name} contains NaN")
    if top == math.inf:
        raise ValueError(f"{name} contains +inf; use finite values (-inf is allowed and masks)")


def check_tau(tau: object) -> float | Tensor:
    """``tau`` must be a finite real number > 0, or a one-element tensor of one.

    A tensor that requires grad is returned as it is (a learned temperature keeps
    its gradient); any other tensor becomes a ``float``.
    """
    if type(tau) is float and 0.0 < tau < math.inf:  # the common case, without ABC checks
        return tau
    if isinstance(tau, Tensor):
        if not tau.is_floating_point():
            raise TypeError(f"tau must be a floating-point tensor or a number, got dtype {tau.dtype}")
        if tau.numel() != 1:
            raise ValueError(f"tau must be a scalar, got shape {tuple(tau.shape)}")
        value = check_real(tau.detach().item(), "tau", minimum=0.0, open_min=True)
        return tau.reshape(()) if tau.requires_grad else value
    return check_real(tau, "tau", minimum=0.0, open_min=True)


def check_dim(x: Tensor, dim: int, name: str = "dim") -> int:
    """Normalise ``dim`` to a non-negative axis of ``x``."""
    if type(dim) is int and -x.dim() <= dim < x.dim():  # the common case, without ABC checks
        return dim % x.dim()
    return check_int(dim, name, minimum=-x.dim(), maximum=x.dim() - 1) % x.dim()


def masked_logits(
    logits: Tensor, mask: Tensor | None, dim: int = -1, *, name: str = "logits", check_rows: bool = True
) -> Tensor:
    """Checked logits with ``-inf`` where ``mask`` is False.

    Args:
        logits: (..., m) scores; NaN or +inf raise ``ValueError`` (even where masked).
        mask: bool, broadcastable to ``logits``; True = may be selected.
        dim: the categorical axis.
        name: the argument's name in error messages.
        check_rows: ``False`` skips the check of the (masked) rows, for callers that
            run :func:`logits_bound` themselves.

    Raises:
        ValueError: if a row along ``dim`` has no selectable position.
    """
    logits = check_tensor(logits, name)
    dim = check_dim(logits, dim)
    if logits.shape[dim] == 0:
        raise ValueError(f"{name} must have at least one category, got shape {tuple(logits.shape)}")
    if mask is not None:
        check_logits(logits, name)  # NaN or +inf raise even where masked
        logits = logits.masked_fill(~check_mask(mask, logits, name).to(logits.device), float("-inf"))
    if check_rows:
        logits_bound(logits, dim, "mask" if mask is not None else name)
    return logits


def check_mask(mask: object, logits: Tensor, name: str = "logits") -> Tensor:
    """A bool tensor that broadcasts to ``logits``' shape."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool, got {mask.dtype}")
    if not _broadcasts_to(mask.shape, logits.shape):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to {name} of shape {tuple(logits.shape)}"
        )
    return mask


def logits_bound(logits: Tensor, dim: int = -1, name: str = "logits") -> float:
    """The one value check of ``logits``: raise for NaN, +inf or a row with nothing selectable.

    One reduction in the common case (no ``-inf``); a second only when some entry is ``-inf``.

    Returns:
        ``max |row maximum|`` over the rows (0 for an empty tensor): how far the
        selectable scores reach, which decides whether dividing by a temperature overflows.
    """
    if logits.numel() == 0:
        return 0.0
    if logits.requires_grad:
        logits = logits.detach()  # a check records no autograd node
    low, high = torch.aminmax(logits)
    low, high = low.item(), high.item()
    if not high < math.inf:  # NaN or +inf
        _check_top(high, name)
    if low == -math.inf:
        low = logits.amax(dim).amin().item()  # the lowest row maximum
        if low == -math.inf:
            raise ValueError(f"{name} leaves a row with no selectable position (all masked or -inf)")
    return max(abs(low), abs(high))


_WORK_DTYPE = {dtype: torch.promote_types(dtype, torch.float32) for dtype in (torch.float16, torch.bfloat16)}


def compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for half-precision inputs (their noise and softmax are computed in float32)."""
    dtype = x.dtype
    return _WORK_DTYPE.get(dtype, dtype) if dtype.is_floating_point else torch.float32


def masked_to_zero(logits: Tensor) -> Tensor:
    """Logits with -inf (masked) entries set to 0, for surrogates linear in the logits."""
    return logits.masked_fill(torch.isneginf(logits), 0.0)


def check_min_fields(obj: object, names: tuple[str, ...], minimum: int = 2) -> None:
    """:func:`check_int` on each named field of a config dataclass."""
    for name in names:
        check_int(getattr(obj, name), name, minimum=minimum)


def check_loss(f: Callable[[Tensor], Tensor], z: Tensor) -> Tensor:
    """``f(z)``, checked to be a tensor of shape ``z.shape[:-1]`` (one loss per sample).

    Raises:
        ValueError: naming ``f`` if the loss has another shape or is not a tensor.
    """
    loss = f(z)
    if not isinstance(loss, Tensor) or loss.shape != z.shape[:-1]:
        got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(
            f"f must map z of shape {tuple(z.shape)} to a loss of shape {tuple(z.shape[:-1])}, got {got}"
        )
    return loss


def check_estimator_logits(logits: object, num_samples: object, minimum: int = 1) -> tuple[Tensor, int]:
    """The entry check of every estimator: valid logits with at least one row, and S.

    Raises:
        ValueError: for NaN or +inf logits, a row of only ``-inf``, no row at all
            (a mean over nothing is NaN), or ``num_samples < minimum``.
        TypeError: for logits that are not a floating tensor or a non-int ``num_samples``.
    """
    logits = masked_logits(check_nonempty(logits), None)
    return logits, check_int(num_samples, "num_samples", minimum=minimum)


def check_nonempty(logits: object, name: str = "logits") -> Tensor:
    """A floating tensor with at least one row: an estimator's mean over no row is NaN."""
    logits = check_tensor(logits, name)
    if logits.numel() == 0:
        raise ValueError(f"{name} of shape {tuple(logits.shape)} hold no row: the surrogate would be NaN")
    return logits


def check_baseline(baseline: object, loss_shape: tuple[int, ...]) -> float | Tensor | Callable:
    """A finite number, a finite tensor broadcastable to the losses, or a callable on them.

    A callable is wrapped so that its result's shape is checked too.
    """
    if callable(baseline) and not isinstance(baseline, Tensor):
        return _checked_baseline(baseline, loss_shape)
    if isinstance(baseline, Tensor):
        return _check_baseline_value(baseline.detach(), loss_shape)
    return check_real(baseline, "baseline")


def _broadcasts_to(shape: torch.Size, target: tuple[int, ...]) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


def _check_baseline_value(b: Tensor, loss_shape: tuple[int, ...]) -> Tensor:
    if not _broadcasts_to(b.shape, loss_shape):
        raise ValueError(
            f"baseline of shape {tuple(b.shape)} does not broadcast to the losses' shape {loss_shape}"
        )
    if not bool(torch.isfinite(b).all()):
        raise ValueError("baseline contains NaN or inf")
    return b


def _checked_baseline(fn: Callable, loss_shape: tuple[int, ...]) -> Callable[[Tensor], Tensor]:
    def baseline(loss: Tensor) -> Tensor:
        b = fn(loss)
        if isinstance(b, Tensor) and not _broadcasts_to(b.shape, loss_shape):
            raise ValueError(
                f"baseline returned shape {tuple(b.shape)}, which does not broadcast to the losses, "
                f"of shape {loss_shape}"
            )
        return b

    return baseline
