"""Gumbel noise, the Gumbel-max sampler, the Gumbel-Softmax relaxation and the
straight-through trick.

Chapter 5 (``05_gumbel_softmax``) derives these; chapter 6
(``06_straight_through``) explains :func:`straight_through`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_int, check_tau, compute_dtype, logits_bound, masked_logits

__all__ = ["gumbel_max_sample", "gumbel_noise", "gumbel_softmax", "gumbel_top_k", "straight_through"]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: per-dtype limits, looked up once rather than on every call
_TINY = {dtype: torch.finfo(dtype).tiny for dtype in _FLOATS}
#: |l + g| / tau above this (a quarter of the work dtype's largest value) may overflow
_SAFE = {dtype: torch.finfo(torch.promote_types(dtype, torch.float32)).max / 4 for dtype in _FLOATS}
#: bounds |g| for Gumbel noise drawn in float32 or wider (g <= -log(tiny) ≈ 87.3)
_NOISE_BOUND = 128.0


def gumbel_noise(
    shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Standard Gumbel noise that is always finite.

    .. math:: g = -\\log E,\\quad E \\sim \\mathrm{Exp}(1)

    which equals the textbook ``-log(-log u)`` with ``u ~ U(0, 1)``. ``E`` is kept
    finite and above zero, so ``g`` is always finite: on the CPU ``E = -log U`` from
    a double-precision uniform in ``[tiny, 1)``, so ``g`` lies in about
    ``[-6.6, 36.7]``; on other devices ``E`` is clamped to ``[tiny, ∞)`` of the dtype.

    Args:
        shape: output shape.
        dtype: a floating dtype; half precisions are drawn in float32 and cast.
        device: where to draw; defaults to the generator's device.
        generator: source of randomness.
    """
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    work = torch.promote_types(dtype, torch.float32)
    return _log_exponential(torch.empty(shape, dtype=work, device=device), generator).neg_().to(dtype)


def _log_exponential(buffer: Tensor, generator: torch.Generator | None) -> Tensor:
    """Fill ``buffer`` with ``log E``, ``E ~ Exp(1)`` finite and > 0: minus a finite Gumbel sample.

    On the CPU ``E = -log U`` from a double-precision uniform ``U`` in
    ``[tiny, 1 - 2⁻⁵³]``, so ``E`` lies in ``[2⁻⁵³, 708]`` and its logarithm is finite in
    every dtype. This is 2.5–4× faster than torch's own ``exponential_`` on the
    CPU (``make bench``) and at least as fine-grained: torch draws ``E`` from a
    double-precision uniform too. Elsewhere ``exponential_`` is fast; its draw is
    clamped to ``[tiny, ∞)`` instead.
    """
    if not buffer.is_cpu:
        return buffer.exponential_(generator=generator).clamp_(min=_TINY[buffer.dtype]).log_()
    u = buffer if buffer.dtype == torch.float64 else torch.empty_like(buffer, dtype=torch.float64)
    # torch's uniform_(a, b) is a + k 2⁻⁵³ (b - a), 0 <= k < 2⁵³: U in [tiny, 1 - 2⁻⁵³], never 0 or 1
    e = u.uniform_(_TINY[torch.float64], 1.0, generator=generator).log_().neg_()  # E = -log U, (..., m)
    return buffer.log_() if e is buffer else torch.log(e, out=buffer)  # log E, cast to the buffer's dtype


def _noise_buffer(logits: Tensor, dtype: torch.dtype) -> Tensor:
    """An uninitialised contiguous tensor shaped like ``logits`` (the draw's order is row-major)."""
    return torch.empty_like(logits, dtype=dtype, memory_format=torch.contiguous_format)


def gumbel_max_sample(
    logits: Tensor, mask: Tensor | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """Draw ``i ~ Categorical(softmax(logits))`` by the Gumbel-max trick.

    .. math:: i = \\arg\\max_k (\\ell_k + g_k),\\quad g_k \\sim \\mathrm{Gumbel}(0, 1)

    Args:
        logits: (..., m) unnormalised log-probabilities; ``-inf`` = never.
        mask: bool broadcastable to ``logits``; True = may be selected.
        generator: source of randomness.

    Returns:
        (...) long tensor of selected positions.

    Raises:
        ValueError: for NaN or +inf logits, or a row with nothing selectable.

    Reference: Gumbel (1954); Maddison, Tarlow & Minka (2014). Chapter 5.
    """
    return gumbel_argmax(masked_logits(logits, mask), generator)


def gumbel_argmax(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The unchecked core of :func:`gumbel_max_sample`: (..., m) checked logits -> (...) index."""
    work = compute_dtype(logits)
    minus_noise = _log_exponential(_noise_buffer(logits, work), generator)  # -g, (..., m)
    return (_to(logits.detach(), work) - minus_noise).max(dim=-1).indices  # (...)


def gumbel_top_k(logits: Tensor, k: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``k`` positions without replacement, in order, by the Gumbel-top-k trick.

    .. math:: (i_1, \\dots, i_k) = \\operatorname{top\\text{-}k}_j (\\ell_j + g_j),

    .. math::
        P(i_1, \\dots, i_k) = \\prod_{r=1}^k
        \\frac{e^{\\ell_{i_r}}}{\\sum_{j \\notin \\{i_1, .., i_{r-1}\\}} e^{\\ell_j}}

    The indices of the ``k`` largest perturbed logits, largest first, are distributed
    as ``k`` successive categorical draws, each renormalised over the positions not
    yet drawn; ``k = 1`` is :func:`gumbel_max_sample`.

    Args:
        logits: (..., m) unnormalised log-probabilities; ``-inf`` = never.
        k: number of draws, ``1 <= k <= m``; every row needs ``k`` finite logits.
        generator: source of randomness.

    Returns:
        (..., k) long tensor of distinct positions, in the order drawn.

    Raises:
        TypeError: if ``k`` is not an int. ValueError: for ``k`` outside ``[1, m]``,
        NaN or +inf logits, or a row with fewer than ``k`` finite logits.

    Reference: Vieira (2014); Kool, van Hoof & Welling (2019), "Stochastic Beams and
    Where to Find Them". Chapter 5.
    """
    logits = masked_logits(logits, None)
    k = check_int(k, "k", minimum=1, maximum=logits.shape[-1])
    if logits.numel() and int(logits.isfinite().sum(-1).min()) < k:
        raise ValueError(f"every row of logits needs at least k = {k} finite entries")
    work = compute_dtype(logits)
    minus_noise = _log_exponential(_noise_buffer(logits, work), generator)  # -g, (..., m)
    return (_to(logits.detach(), work) - minus_noise).topk(k, dim=-1).indices  # (..., k)


def straight_through(y_hard: Tensor, y_soft: Tensor) -> Tensor:
    """Forward ``y_hard`` exactly, backward the gradient of ``y_soft``.

    .. math:: y = y_{hard} + (y_{soft} - \\mathrm{sg}(y_{soft}))

    ``y_soft - y_soft.detach()`` is exactly zero for finite values, so the
    forward value is bit-for-bit ``y_hard`` whatever ``y_hard`` holds. The
    textbook form ``y_hard - sg(y_soft) + y_soft`` is also exact for one-hot
    ``y_hard`` and ``y_soft`` in [0, 1]; the reordering
    ``y_hard + y_soft - sg(y_soft)`` is not (chapter 6 counts the misses).

    Args:
        y_hard: (..., m) the value used forward (e.g. a one-hot).
        y_soft: (..., m) the differentiable surrogate.

    Raises:
        TypeError: if either is not a tensor. ValueError: if their shapes differ.

    Reference: Bengio, Léonard & Courville (2013). Chapter 6.
    """
    for name, y in (("y_hard", y_hard), ("y_soft", y_soft)):
        if not isinstance(y, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y_hard.shape != y_soft.shape:
        raise ValueError(
            f"y_hard shape {tuple(y_hard.shape)} differs from y_soft shape {tuple(y_soft.shape)}"
        )
    return _straight_through(y_hard.detach().to(y_soft.dtype), y_soft)


def _straight_through(y_hard: Tensor, y_soft: Tensor) -> Tensor:
    """The unchecked core of :func:`straight_through` (``y_hard`` detached, of ``y_soft``'s dtype)."""
    return y_hard + (y_soft - y_soft.detach())


def gumbel_softmax(
    logits: Tensor,
    tau: float | Tensor = 1.0,
    hard: bool = False,
    dim: int = -1,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A Gumbel-Softmax (Concrete) sample, optionally made hard with straight-through.

    .. math:: y_k = \\mathrm{softmax}_k\\big((\\ell_k + g_k) / \\tau\\big)

    Args:
        logits: (..., m, ...) unnormalised log-probabilities; categories on ``dim``.
        tau: temperature > 0; a one-element tensor that requires grad keeps its gradient.
        hard: if True the forward value is the exact one-hot of ``argmax y`` and the
            gradient is that of the soft sample ``y``.
        dim: the categorical axis.
        mask: bool broadcastable to ``logits``; True = may be selected.
        generator: source of randomness.

    Returns:
        Tensor shaped like ``logits`` and of its dtype; rows sum to one and are
        exactly zero where masked. Finite for every valid input, however small ``tau``.

    Raises:
        ValueError: for ``tau <= 0``, NaN or +inf logits, or a row with nothing selectable.

    Reference: Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017). Chapter 5.
    """
    tau = check_tau(tau)
    work_logits = masked_logits(logits, mask, dim, check_rows=False)
    dim, name = dim % work_logits.dim(), "mask" if mask is not None else "logits"
    if work_logits.requires_grad and type(tau) is float and tau * _SAFE[work_logits.dtype] > 1.0:
        y = _checked_after(work_logits, tau, hard, dim, generator, name)  # the training call
    else:
        reach = logits_bound(work_logits, dim, name)
        cold = (reach + _NOISE_BOUND) / (tau if type(tau) is float else tau.detach().item()) > _SAFE[
            work_logits.dtype
        ]
        y = _gumbel_softmax(work_logits, tau, hard, dim, generator, cold)
    return y if y.dtype == logits.dtype else y.to(logits.dtype)


def _checked_after(
    logits: Tensor, tau: float, hard: bool, dim: int, generator: torch.Generator | None, name: str
) -> Tensor:
    """A sample of logits that require grad: the sample first, then one check of it.

    One reduction of the sample replaces the reduction of the logits and its two syncs.

    NaN or +inf logits, a row with nothing selectable and an overflow of ``(l + g) / tau``
    each leave a NaN in ``softmax((l + g) / tau)``, and a valid sample sums to the number
    of rows. Only when the sum is NaN are the logits checked (raising for bad input); valid
    logits then overflowed, and the same noise goes through the overflow fallback.
    """
    minus_noise = _log_exponential(_noise_buffer(logits, compute_dtype(logits)), generator)  # -g, (..., m)
    work = logits if logits.dtype == minus_noise.dtype else logits.to(minus_noise.dtype)
    inv = 1.0 / tau
    scores = minus_noise * -inv  # g / tau, (..., m); the noise itself is kept for the fallback
    scores = torch.add(scores, work, alpha=inv)  # (l + g) / tau, one autograd node
    y_soft = torch.softmax(scores, dim=dim)  # (..., m)
    total = y_soft.detach().sum().item()
    if total != total:  # NaN
        logits_bound(logits, dim, name)
        y_soft = _cold_softmax(work - minus_noise, tau, dim)
    return _harden(y_soft, dim) if hard else y_soft


def _gumbel_softmax(
    logits: Tensor, tau: float | Tensor, hard: bool, dim: int, generator: torch.Generator | None, cold: bool
) -> Tensor:
    """Unchecked core of :func:`gumbel_softmax`, in float32 or wider; ``cold`` avoids overflow."""
    work = compute_dtype(logits)
    minus_noise = _log_exponential(_noise_buffer(logits, work), generator)  # log E = -g, (..., m)
    if logits.dtype != work:
        logits = logits.to(work)
    if hard and not (logits.requires_grad or isinstance(tau, Tensor)):
        # no gradient wanted: argmax softmax((l + g) / tau) = argmax (l + g), the Gumbel-max sample
        scores = torch.sub(logits, minus_noise, out=minus_noise)  # l + g, (..., m)
        return torch.zeros_like(scores).scatter_(dim, scores.argmax(dim=dim, keepdim=True), 1.0)
    if cold or isinstance(tau, Tensor):
        scores = logits - minus_noise  # l + g, (..., m)
        y_soft = _cold_softmax(scores, tau, dim) if cold else torch.softmax(scores / tau, dim=dim)
    else:  # (l + g) / tau with one autograd node: the noise is scaled in place, then l / tau added
        inv = 1.0 / tau
        noise = minus_noise.mul_(-inv)  # g / tau, (..., m)
        add = torch.add if logits.requires_grad else torch.Tensor.add_  # in place without autograd
        scores = add(noise, logits, alpha=inv)  # (l + g) / tau
        y_soft = torch.softmax(scores, dim=dim)  # (..., m)
    return _harden(y_soft, dim) if hard else y_soft


def _harden(y_soft: Tensor, dim: int) -> Tensor:
    """The one-hot of ``argmax y_soft``, with ``y_soft``'s gradient where it has one."""
    y_hard = torch.zeros_like(y_soft).scatter_(dim, y_soft.argmax(dim=dim, keepdim=True), 1.0)
    return _straight_through(y_hard, y_soft) if y_soft.requires_grad else y_hard


def _cold_softmax(scores: Tensor, tau: float | Tensor, dim: int) -> Tensor:
    """``softmax(scores / tau)`` for a temperature so small that the division overflows.

    The one overflow fallback of the package. Shifting by the row maximum first and
    dividing in float64 keeps every entry finite: the maximum maps to 0, every other
    entry to a large negative number or ``-inf``, so the result tends to the one-hot
    of the argmax, as it should when ``tau -> 0``.
    """
    shifted = (scores - scores.detach().amax(dim=dim, keepdim=True)).double()  # <= 0, (..., m)
    return torch.softmax(shifted / tau, dim=dim).to(scores.dtype)  # (..., m)


def _to(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x.to(dtype)`` without the call when it is already that dtype (a no-op that still costs)."""
    return x if x.dtype == dtype else x.to(dtype)


def __getattr__(name: str) -> object:
    """``sampling.one_hot``: kept for the application modules until they move to ``apps/``."""
    if name == "one_hot":
        from .categorical import one_hot

        return one_hot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
