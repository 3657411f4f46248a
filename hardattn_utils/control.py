"""Control variates for REINFORCE: the per-coordinate optimal baseline and the
first-order (MuProp) control in its correct form.

The source text's formula subtracts a value-space quantity from a parameter-space
gradient; chapter 4 (``04_variance_reduction``) derives and measures the correct
form implemented here. Shapes: ``B`` batch, ``m`` categories, ``S`` samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._checks import (
    check_callable,
    check_estimator_logits,
    check_logits,
    check_loss,
    check_nonempty,
    check_real,
    masked_to_zero,
)
from .baselines import sum_of_others
from .categorical import all_one_hots, draw, score
from .estimators import Estimate, LossFn

__all__ = [
    "control_variate",
    "optimal_baseline",
    "optimal_baseline_reinforce",
    "reinforce_variance",
    "scalar_optimal_baseline",
    "with_control_variate",
]


def optimal_baseline(logits: Tensor, f: LossFn) -> Tensor:
    """The variance-minimising constant baseline per logit coordinate, by enumeration.

    .. math:: b_k^* = \\frac{\\mathbb E[f(z)\\, s_k(z)^2]}{\\mathbb E[s_k(z)^2]},\\quad s = z - p

    Args:
        logits: (B..., m).
        f: the loss; called once on the m one-hots.

    Returns:
        (B..., m) detached; 0 where ``E[s_k²] = 0`` (a category of probability 0 or 1).

    Reference: Greensmith, Bartlett & Baxter (2004). Chapter 4.
    """
    logits = check_logits(logits).detach()
    one_hots = all_one_hots(logits)  # (m, B, m)
    with torch.no_grad():
        losses = check_loss(f, one_hots)  # (m, B)
    probs = torch.softmax(logits, dim=-1)  # (B, m)
    weight = probs.movedim(-1, 0).unsqueeze(-1) * (one_hots - probs) ** 2  # (m, B, m)
    numerator, denominator = (weight * losses.unsqueeze(-1)).sum(0), weight.sum(0)  # (B, m)
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-30), 0.0)


def scalar_optimal_baseline(logits: Tensor, f: LossFn, direction: Tensor | None = None) -> Tensor:
    """The variance-minimising *single* baseline for all coordinates, by enumeration.

    One number per batch element minimises the total variance ``Σ_k Var(ĝ_k)``; with
    ``direction`` d (logits ``ℓ = φ d`` for a scalar parameter φ, whose score is
    ``s·d``) it minimises the variance of ``dL/dφ`` instead:

    .. math:: b^* = \\frac{\\mathbb E[f(z)\\,\\lVert s(z)\\rVert^2]}{\\mathbb E[\\lVert s(z)\\rVert^2]},\\quad
       b^*_\\varphi = \\frac{\\mathbb E[f(z)\\,(s(z)^\\top d)^2]}{\\mathbb E[(s(z)^\\top d)^2]}

    Args:
        logits: (B..., m).
        f: the loss; called once on the m one-hots.
        direction: (m,) or (B..., m) d, optional.

    Returns:
        (B...) detached; 0 where the denominator is 0.

    Reference: Greensmith, Bartlett & Baxter (2004). Chapter 4.
    """
    logits = check_logits(logits).detach()
    losses, s, probs = _enumerate(logits, f)  # (m, B), (m, B, m), (B, m)
    weight = (s**2).sum(-1) if direction is None else (s * check_logits(direction, "direction")).sum(-1) ** 2
    weight = weight * probs.movedim(-1, 0)  # p_k |s(e_k)|², (m, B)
    numerator, denominator = (weight * losses).sum(0), weight.sum(0)  # (B)
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-30), 0.0)


def reinforce_variance(
    logits: Tensor, f: LossFn, baseline: float | Tensor = 0.0, direction: Tensor | None = None
) -> Tensor:
    """The exact total variance of single-sample REINFORCE with a fixed baseline.

    .. math:: V(b) = \\sum_k p_k \\big\\lVert (f(e_k) - b)\\odot s(e_k) - \\nabla L\\big\\rVert^2

    Args:
        logits: (B..., m).
        f: the loss; called once on the m one-hots.
        baseline: a number, (B...) one per batch element, or (B..., m) one per coordinate.
        direction: (m,) or (B..., m) d: the variance of ``d·ĝ`` (``dL/dφ`` for ``ℓ = φ d``).

    Returns:
        (B...) by enumeration, detached.

    Reference: Greensmith, Bartlett & Baxter (2004). Chapter 4.
    """
    logits = check_logits(logits).detach()
    losses, s, probs = _enumerate(logits, f)  # (m, B), (m, B, m), (B, m)
    b = torch.as_tensor(baseline, dtype=logits.dtype)
    b = b.unsqueeze(-1) if b.dim() < logits.dim() else b  # (B, 1) or (B, m)
    g = (losses.unsqueeze(-1) - b) * s  # ĝ(e_k), (m, B, m)
    if direction is not None:
        g = (g * check_logits(direction, "direction")).sum(-1, keepdim=True)  # (m, B, 1)
    weight = probs.movedim(-1, 0).unsqueeze(-1)  # (m, B, 1)
    mean = (weight * g).sum(0)  # the exact gradient, (B, m)
    return (weight * (g - mean) ** 2).sum((0, -1))


def _enumerate(logits: Tensor, f: LossFn) -> tuple[Tensor, Tensor, Tensor]:
    """``(f(e_k), s(e_k), p)`` for every category: (m, B), (m, B, m), (B, m)."""
    one_hots = all_one_hots(logits)  # (m, B, m)
    with torch.no_grad():
        losses = check_loss(f, one_hots)  # (m, B)
    return losses, score(one_hots, logits), torch.softmax(logits, dim=-1)


def optimal_baseline_reinforce(
    logits: Tensor,
    f: LossFn,
    *,
    num_samples: int = 4,
    baseline: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Estimate:
    """REINFORCE with a separate baseline per logit coordinate, ideally ``b*``.

    Without ``baseline``, ``b_k`` for sample ``s`` is estimated from the *other*
    samples (leave-one-out, so the estimate stays unbiased):

    .. math:: \\hat g_k = \\frac1S\\sum_s \\big(f(z_s) - b_{s,k}\\big)\\,s_k(z_s),\\quad
       b_{s,k} = \\frac{\\sum_{j\\ne s} f(z_j)\\,s_k(z_j)^2}{\\sum_{j\\ne s} s_k(z_j)^2}

    Args:
        logits: (B..., m).
        f: loss of a one-hot sample.
        num_samples: S (>= 2 when ``baseline`` is None).
        baseline: (B..., m) a fixed per-coordinate baseline, e.g. :func:`optimal_baseline`.
        generator: source of randomness.

    Reference: Greensmith, Bartlett & Baxter (2004). Chapter 4.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples, 2 if baseline is None else 1)
    z, _ = draw(logits, num_samples, generator)  # (S, B, m)
    loss = check_loss(f, z)  # (S, B)
    detached, s = loss.detach().unsqueeze(-1), score(z, logits)  # (S, B, 1), (S, B, m)
    b = _coordinate_baseline(detached, s) if baseline is None else baseline.detach()  # (S, B, m)
    surrogate = (loss + ((detached - b) * s * masked_to_zero(logits)).sum(-1)).mean()
    return Estimate(surrogate, loss.detach(), z)


def _coordinate_baseline(loss: Tensor, s: Tensor) -> Tensor:
    """Leave-one-out ``b_{s,k}`` from (S, B, 1) losses and (S, B, m) scores."""
    squared = s**2
    total = sum_of_others(squared)
    return torch.where(total > 0, sum_of_others(loss * squared) / total.clamp_min(1e-30), 0.0)


def _taylor_control(logits: Tensor, f: LossFn) -> tuple[Tensor, Tensor, Tensor]:
    """``(p̄, f(p̄), ∇_z f(p̄))``, all detached, for the first-order control variate."""
    probs = torch.softmax(logits, dim=-1).detach().requires_grad_(True)
    with torch.enable_grad():
        value = check_loss(f, probs)
        (grad,) = torch.autograd.grad(value.sum(), probs)
    return probs.detach(), value.detach(), grad.detach()


def control_variate(
    logits: Tensor,
    f: LossFn,
    *,
    c: float | None = 1.0,
    num_samples: int = 1,
    leave_one_out: bool = False,
    generator: torch.Generator | None = None,
) -> Estimate:
    """REINFORCE with the first-order Taylor expansion of ``f`` at ``p`` as control variate.

    The control ``h(z) = f(p̄) + ∇f(p̄)·(z − p̄)`` is linear in ``z``, so its
    expectation and that expectation's gradient (the gradient of soft attention)
    are known in closed form:

    .. math:: \\hat g = \\big(f(z) - c\\,h(z)\\big)\\nabla\\log p(z) + c\\,\\nabla_\\ell\\,\\mathbb E[h(z)]

    With ``c=None`` each sample's ``c`` is estimated from the *other* samples as
    ``Cov(f s, h s) / Var(h s)`` (leave-one-out keeps it unbiased). With
    ``leave_one_out=True`` the residual ``f(z_s) − c h(z_s)`` also gets the mean
    residual of the other samples as a baseline. Costs S evaluations of ``f`` plus
    one value and gradient of ``f`` at ``p̄``.

    Args:
        logits: (B..., m).
        f: loss of a one-hot or relaxed ``z``, differentiable in ``z``.
        c: a fixed coefficient, or None to estimate ``c*`` (needs ``num_samples >= 2``).
        num_samples: S.
        leave_one_out: subtract the other samples' mean residual (needs ``num_samples >= 2``).
        generator: source of randomness.

    Reference: Gu et al. (2016), MuProp; Mohamed et al. (2020), §7. Chapter 4.
    """
    c = None if c is None else check_real(c, "c")
    logits, num_samples = check_estimator_logits(logits, num_samples, 2 if c is None or leave_one_out else 1)
    p_bar, f_bar, grad_bar = _taylor_control(logits, f)  # (B, m), (B), (B, m)
    z, log_p = draw(logits, num_samples, generator)  # (S, B, m), (S, B)
    loss = check_loss(f, z)  # (S, B)
    control = f_bar + ((z - p_bar) * grad_bar).sum(-1)  # h(z), (S, B)
    if c is None:
        c = _estimate_c(loss.detach(), control, score(z, logits), p_bar, grad_bar, leave_one_out)
    residual = _residual(loss.detach(), control, c, leave_one_out)  # f(z) - c h(z) - baseline, (S, B)
    mean_control = (grad_bar * torch.softmax(logits, dim=-1)).sum(-1)  # E[h] up to a constant, (B)
    return Estimate((loss + residual * log_p + c * mean_control).mean(), loss.detach(), z)


def with_control_variate(estimator: Callable[..., Estimate], c: float = 1.0) -> Callable[..., Estimate]:
    """Compose the first-order control variate with any score-function estimator.

    The returned estimator runs ``estimator`` on the residual loss ``f(z) − c h(z)``
    and adds back ``c ∇E[h]``, which is known in closed form, so it stays unbiased
    whenever ``estimator`` is (e.g. ``with_control_variate(rloo)``). ``h`` has no
    gradient, so the pathwise term of ``f``'s parameters is unchanged. For one-hot
    samples only (a relaxed ``z`` would carry ``h``'s pathwise gradient too).

    .. math:: \\hat g = \\hat g_{\\text{estimator}}[f - c\\,h] + c\\,\\nabla_\\ell\\,\\mathbb E[h(z)]

    Args:
        estimator: a score-function estimator ``(logits, f, *, ..., generator=None)``.
        c: the fixed coefficient (see :func:`control_variate` for an estimated one).

    Reference: Gu et al. (2016), MuProp. Chapter 4.
    """
    check_callable(estimator, "estimator")
    c = check_real(c, "c")

    def estimate(logits: Tensor, f: LossFn, **hyper: object) -> Estimate:
        p_bar, f_bar, grad_bar = _taylor_control(check_nonempty(logits), f)  # (B, m), (B), (B, m)
        control = lambda z: f_bar + ((z - p_bar) * grad_bar).sum(-1)  # noqa: E731  h(z), (S, B)
        inner = estimator(logits, lambda z: f(z) - c * control(z), **hyper)
        mean_control = (grad_bar * torch.softmax(logits, dim=-1)).sum(-1)  # E[h] up to a constant, (B)
        return Estimate(inner.surrogate + c * mean_control.mean(), inner.loss + c * control(inner.z), inner.z)

    estimate.__name__ = f"{getattr(estimator, '__name__', 'estimator')} + control variate"
    return estimate


def _residual(loss: Tensor, control: Tensor, c: float | Tensor, leave_one_out: bool) -> Tensor:
    """``f(z_s) − c h(z_s)``, less the other samples' mean residual with ``leave_one_out``."""
    residual = loss - c * control
    if not leave_one_out:
        return residual
    return residual - (sum_of_others(loss) - c * sum_of_others(control)) / (loss.shape[0] - 1)


def _estimate_c(
    loss: Tensor, control: Tensor, s: Tensor, p_bar: Tensor, grad_bar: Tensor, centre: bool
) -> Tensor:
    """Leave-one-out ``c* = E<f s, h s − μ> / E|h s − μ|²`` with ``μ = ∇E[h]``: (S, B).

    With ``centre``, ``f`` is first centred on the mean of the same other samples.
    """
    mu = p_bar * (grad_bar - (p_bar * grad_bar).sum(-1, keepdim=True))  # E[h s], exact, (B, m)
    centred = control.unsqueeze(-1) * s - mu  # (S, B, m), mean zero
    inner = (s * centred).sum(-1)  # <s, h s − μ>, (S, B)
    cov = sum_of_others(loss * inner)
    if centre:
        cov = cov - sum_of_others(loss) * sum_of_others(inner) / (loss.shape[0] - 1)
    var = sum_of_others(centred.pow(2).sum(-1))
    return torch.where(var > 0, cov / var.clamp_min(1e-30), 0.0)
