"""Control variates for REINFORCE: the first-order (MuProp) control in its correct form.

The source text's formula subtracts a value-space quantity from a parameter-space
gradient; chapter 4 (``04_variance_reduction``) derives and measures the correct
form implemented here.
"""

from __future__ import annotations

from functools import partial
from numbers import Real

import torch
from torch import Tensor

from ._checks import check_logits
from .baselines import _check_count, _leave_one_out, score_function
from .estimators import ESTIMATORS, Estimate, LossFn, _loss, sample_one_hot

__all__ = ["control_variate"]


def _taylor_control(logits: Tensor, f: LossFn) -> tuple[Tensor, Tensor, Tensor]:
    """``(p̄, f(p̄), ∇_z f(p̄))``, all detached, for the first-order control variate."""
    probs = torch.softmax(logits, dim=-1).detach().requires_grad_(True)
    with torch.enable_grad():
        value = _loss(f, probs)
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
    expectation ``f(p̄) + ∇f(p̄)·(p − p̄)`` and that expectation's gradient (the
    gradient of soft attention) are known in closed form:

    .. math:: \\hat g = \\big(f(z) - c\\,h(z)\\big)\\nabla\\log p(z) + c\\,\\nabla_\\ell\\,\\mathbb E[h(z)]

    With ``c=None`` each sample's ``c`` is estimated from the *other* samples as
    ``Cov(f s, h s) / Var(h s)`` (pooled over coordinates; leave-one-out keeps it
    unbiased). Costs ``num_samples`` evaluations of ``f`` plus one value and
    gradient of ``f`` at ``p̄``. With ``leave_one_out=True`` the residual
    ``f(z_s) − c h(z_s)`` also gets the mean residual of the other samples as a
    baseline (what the Taylor term cannot remove, e.g. a constant curvature term).

    Args:
        logits: (..., K).
        f: loss of a one-hot or relaxed ``z``, differentiable in ``z``.
        c: a fixed coefficient (1 makes ``h`` the first-order model of ``f``), or None
            to estimate ``c*`` from the other samples (needs ``num_samples >= 2``).
        num_samples: S.
        leave_one_out: subtract the other samples' mean residual (needs ``num_samples >= 2``).
        generator: source of randomness.

    Reference: Gu et al. (2016), MuProp; Mohamed et al. (2020), §7. Chapter 4.
    """
    if c is not None and (isinstance(c, bool) or not isinstance(c, Real)):
        raise TypeError(f"c must be a number or None, got {type(c).__name__}")
    _check_count(num_samples, 2 if c is None or leave_one_out else 1, " to estimate c or a baseline")
    p_bar, f_bar, grad_bar = _taylor_control(check_logits(logits), f)
    z, log_p = sample_one_hot(logits, num_samples, generator)
    loss = _loss(f, z)
    detached = loss.detach()
    control = f_bar + ((z - p_bar) * grad_bar).sum(-1)  # h(z), (S, ...)
    if c is None:
        c = _estimate_c(detached, control, score_function(z, logits), p_bar, grad_bar, leave_one_out)
    residual = detached - c * control
    if leave_one_out:
        residual = residual - (_leave_one_out(detached) - c * _leave_one_out(control)) / (num_samples - 1)
    mean_control = (grad_bar * torch.softmax(logits, dim=-1)).sum(-1)  # E[h] up to a constant
    surrogate = (loss + residual * log_p + c * mean_control).mean()
    return Estimate(surrogate, detached, z)


def _estimate_c(
    loss: Tensor, control: Tensor, score: Tensor, p_bar: Tensor, grad_bar: Tensor, centre: bool
) -> Tensor:
    """Leave-one-out ``c* = E<f s, h s − μ> / E|h s − μ|²`` with ``μ = ∇E[h]``: (S, ...).

    With ``centre``, ``f`` is first centred on the mean of the same other samples.
    """
    mu = p_bar * (grad_bar - (p_bar * grad_bar).sum(-1, keepdim=True))  # E[h s], exact
    centred = control.unsqueeze(-1) * score - mu  # (S, ..., K), mean zero
    inner = (score * centred).sum(-1)  # <s, h s − μ>, (S, ...)
    cov = _leave_one_out(loss * inner)
    if centre:
        cov = cov - _leave_one_out(loss) * _leave_one_out(inner) / (loss.shape[0] - 1)
    var = _leave_one_out(centred.pow(2).sum(-1))
    return torch.where(var > 0, cov / var.clamp_min(1e-30), 0.0)


ESTIMATORS["control variate"] = partial(control_variate, num_samples=2, leave_one_out=True)
