"""Estimators that are unbiased and low-variance at once, or fix straight-through.

REBAR and RELAX are REINFORCE with a relaxed control variate whose expectation is
known through the *conditional* Gumbel sample given the chosen category; Gumbel-Rao
averages straight-through Gumbel-Softmax over that same conditional noise; ReinMax
is a second-order-accurate straight-through estimator. All share the signature
``(logits, f, *, hyper-parameters, generator=None) -> Estimate`` and the surrogate
convention of :mod:`hardattn_utils.estimators`.

Legend of the shape comments: ``B`` batch (any leading shape), ``m`` categories,
``S`` samples. Chapter 7 (``07_modern_estimators``) derives and measures them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._checks import check_callable, check_estimator_logits, check_loss, check_real, check_tau, masked_to_zero
from .categorical import one_hot
from .estimators import Estimate, LossFn
from .sampling import gumbel_argmax, gumbel_noise, straight_through

__all__ = ["LearnedRelax", "conditional_gumbel", "gumbel_rao", "rebar", "reinmax", "relax"]

#: a control variate on a relaxed sample: y (B, m) -> (B)
Control = Callable[[Tensor], Tensor]


def conditional_gumbel(
    logits: Tensor, index: Tensor, *, num_samples: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """Gumbel-perturbed logits ``z = logits + g`` drawn *given* ``argmax z = index``.

    The top coordinate is a Gumbel centred on ``logsumexp(logits)``; every other one is
    a Gumbel centred on its logit, truncated below the top. Reparameterised: the
    result is differentiable in ``logits`` (REBAR needs that path).

    .. math:: z_b = \\log\\textstyle\\sum_j e^{\\ell_j} - \\log E_b,\\qquad
       z_k = -\\log\\big(e^{-z_b} + E_k e^{-\\ell_k}\\big)\\ (k\\ne b),\\quad E \\sim \\mathrm{Exp}(1)

    Args:
        logits: (B..., m). index: (B...) long, the category to condition on.
        num_samples: S conditional draws. generator: source of randomness.

    Returns:
        (S, B..., m) perturbed logits whose argmax is ``index``.

    Reference: Tucker et al. (2017), appendix; Maddison, Tarlow & Minka (2014). Chapter 7.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples)
    if not isinstance(index, Tensor) or index.shape != logits.shape[:-1] or index.is_floating_point():
        raise ValueError(f"index must be an integer tensor of shape {tuple(logits.shape[:-1])}")
    return _conditional_gumbel(logits, index, num_samples, generator)


def _conditional_gumbel(
    logits: Tensor, index: Tensor, num_samples: int, generator: torch.Generator | None
) -> Tensor:
    shape = (num_samples, *logits.shape)
    log_e = -gumbel_noise(shape, dtype=logits.dtype, device=logits.device, generator=generator)  # (S, B, m)
    at = index.expand(shape[:-1]).unsqueeze(-1)  # (S, B, 1)
    top = torch.logsumexp(logits, dim=-1, keepdim=True) - log_e.gather(-1, at)  # (S, B, 1)
    others = -torch.logaddexp(-top, log_e - logits)  # (S, B, m), below the top
    return others.scatter(-1, at, top)  # (S, B, m)


def rebar(
    logits: Tensor, f: LossFn, *, tau: float = 0.5, eta: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """REBAR: REINFORCE with ``eta · f`` of the Gumbel-Softmax relaxation as control variate.

    .. math:: \\hat g = \\big[f(b) - \\eta f(\\sigma_\\tau(\\tilde z))\\big]\\nabla\\log p(b)
       + \\eta\\nabla f(\\sigma_\\tau(z)) - \\eta\\nabla f(\\sigma_\\tau(\\tilde z))

    with ``z = logits + g``, ``b = argmax z`` and ``z̃ ~ p(z | b)``
    (:func:`conditional_gumbel`). Unbiased for every ``tau > 0`` and ``eta``; costs
    three evaluations of ``f`` (one discrete, two relaxed).

    Args:
        logits: (B..., m). f: loss of a one-hot *and* of a relaxed sample.
        tau: temperature of the relaxation. eta: scale of the control variate.
        generator: source of randomness.

    Reference: Tucker et al. (2017). Chapter 7.
    """
    logits, _ = check_estimator_logits(logits, 1)
    tau, eta = check_tau(tau), check_real(eta, "eta")
    return _relax_core(logits, f, lambda y: eta * f(y), [], tau, generator)


def relax(
    logits: Tensor,
    f: LossFn,
    *,
    control: Control | None = None,
    tau: float = 1.0,
    generator: torch.Generator | None = None,
) -> Estimate:
    """RELAX: REBAR's construction with any control ``c`` on the relaxed sample.

    .. math:: \\hat g = \\big[f(b) - c(\\sigma_\\tau(\\tilde z))\\big]\\nabla\\log p(b)
       + \\nabla c(\\sigma_\\tau(z)) - \\nabla c(\\sigma_\\tau(\\tilde z))

    Unbiased for any ``c``. If ``control`` is an ``nn.Module``, the surrogate also
    carries a term whose gradient is ``∇_φ mean_B |ĝ|²`` for the module's parameters
    ``φ`` only (and zero for everything else), so one ``backward()`` and an optimiser
    over ``φ`` train the control to minimise the estimator's variance, as in the paper.

    Args:
        logits: (B..., m). f: loss of a one-hot sample.
        control: y (B..., m) -> (B...); ``None`` uses ``f`` (REBAR with ``eta = 1``).
        tau: temperature of the relaxation. generator: source of randomness.

    Reference: Grathwohl et al. (2018). Chapter 7.
    """
    logits, _ = check_estimator_logits(logits, 1)
    tau = check_tau(tau)
    control = f if control is None else check_callable(control, "control")
    params = [p for p in control.parameters() if p.requires_grad] if isinstance(control, nn.Module) else []
    return _relax_core(logits, f, control, params, tau, generator)


def _relax_core(
    logits: Tensor, f: LossFn, control: Control, params: list, tau: float, generator: torch.Generator | None
) -> Estimate:
    """The shared body of REBAR and RELAX; ``params``: the control's, trained on |ĝ|²."""
    leaf = logits.detach().requires_grad_(True)  # (B, m), ĝ is a gradient in it
    with torch.enable_grad():
        z = leaf + gumbel_noise(
            leaf.shape, dtype=leaf.dtype, device=leaf.device, generator=generator
        )  # (B, m)
        index = z.detach().argmax(-1)  # (B)
        z_cond = _conditional_gumbel(leaf, index, 1, generator)[0]  # (B, m), z̃ ~ p(z | b)
        b = one_hot(index, leaf.shape[-1], dtype=leaf.dtype)  # (B, m)
        loss = check_loss(f, b)  # (B)
        c_z, c_cond = (
            control(torch.softmax(z / tau, -1)),
            control(torch.softmax(z_cond / tau, -1)),
        )  # (B), (B)
        (grad_c,) = torch.autograd.grad((c_z - c_cond).sum(), leaf, create_graph=bool(params))  # (B, m)
        score = b - torch.softmax(leaf.detach(), -1)  # (B, m), ∇ log p(b)
        g_hat = (loss.detach() - c_cond)[..., None] * score + grad_c  # (B, m)
    surrogate = loss.mean() + _zero_valued((g_hat.detach() * masked_to_zero(logits)).sum(-1).mean())
    return Estimate(surrogate + _variance_term(g_hat, params), loss.detach(), b)


def _variance_term(g_hat: Tensor, params: list) -> Tensor | float:
    """Zero-valued; its gradient is ``∇_φ mean_B |ĝ|²`` for ``params`` only (RELAX's training)."""
    if not params:
        return 0.0
    grads = torch.autograd.grad(g_hat.pow(2).sum(-1).mean(), params, allow_unused=True)
    return sum(_zero_valued((p * g).sum()) for p, g in zip(params, grads, strict=True) if g is not None)


def _zero_valued(x: Tensor) -> Tensor:
    """``x - sg(x)``: value zero, gradient that of ``x`` (keeps the surrogate's value the loss)."""
    return x - x.detach()


class LearnedRelax(nn.Module):
    """RELAX with the control ``c_φ(y) = f(y) + Σ_k h_φ(y_k)``, ``h_φ`` a small MLP.

    ``h_φ``'s output layer starts at zero, so a fresh instance is REBAR with
    ``eta = 1``; each call adds the variance term of :func:`relax`, so training the
    module's parameters (:func:`hardattn_utils.fit` adds them to its optimiser, as for
    :class:`hardattn_utils.LearnedBaseline`) moves ``c_φ`` to lower variance. The
    per-coordinate ``h_φ`` serves any number of categories.

    Args:
        hidden: width of ``h_φ``'s hidden layer.

    Reference: Grathwohl et al. (2018), section 3.3. Chapter 7.
    """

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(
        self, logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
    ) -> Estimate:
        """RELAX on ``c_φ``; the gradient of the variance reaches ``h_φ`` only."""
        logits, _ = check_estimator_logits(logits, 1)
        control = lambda y: f(y) + self.net(y.unsqueeze(-1)).squeeze(-1).sum(-1)  # noqa: E731, (B)
        return _relax_core(logits, f, control, list(self.net.parameters()), check_tau(tau), generator)


def gumbel_rao(
    logits: Tensor,
    f: LossFn,
    *,
    tau: float = 1.0,
    num_samples: int = 10,
    generator: torch.Generator | None = None,
) -> Estimate:
    """Gumbel-Rao: straight-through Gumbel-Softmax averaged over the noise given the sample.

    .. math:: \\hat g = \\frac{\\partial f}{\\partial z}\\Big|_{z=b}\\,
       \\frac1S\\sum_s \\frac{\\partial\\,\\mathrm{softmax}((\\ell + g_s)/\\tau)}{\\partial\\ell},
       \\quad g_s = \\tilde z_s - \\ell,\\ \\tilde z_s \\sim p(z \\mid b)

    The noise is held fixed in the Jacobian, as in straight-through Gumbel-Softmax,
    so the mean equals :func:`hardattn_utils.st_gumbel_softmax`'s (a conditional
    expectation) and the variance is lower. One evaluation of ``f``.

    Args:
        logits: (B..., m). f: loss of a one-hot sample. tau: temperature.
        num_samples: S conditional draws averaged. generator: source of randomness.

    Reference: Paulus, Maddison & Krause (2021). Chapter 7.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples)
    tau = check_tau(tau)
    index = gumbel_argmax(logits, generator)  # (B)
    noise = (_conditional_gumbel(logits, index, num_samples, generator) - logits).detach()  # (S, B, m)
    soft = torch.softmax((logits + noise.nan_to_num(0.0)) / tau, dim=-1).mean(0)  # (B, m)
    z = straight_through(one_hot(index, logits.shape[-1], dtype=logits.dtype), soft)  # (B, m)
    loss = check_loss(f, z)  # (B)
    return Estimate(loss.mean(), loss.detach(), z)


def reinmax(
    logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """ReinMax: straight-through with Heun's method, second-order accurate.

    .. math:: \\pi_0 = \\mathrm{softmax}(\\ell),\\ \\pi_1 = \\mathrm{softmax}\\big(\\ell
       + \\mathrm{sg}(\\log\\tfrac{b + \\mathrm{softmax}(\\ell/\\tau)}{2} - \\ell)\\big),

    .. math:: \\hat g = \\frac{\\partial f}{\\partial z}\\Big|_{z=b}
       \\frac{\\partial(2\\pi_1 - \\pi_0/2)}{\\partial\\ell}

    ``b ~ Cat(π₀)`` forward (one evaluation of ``f``); the backward pass is the average
    of the softmax Jacobians at ``π₀`` and at the midpoint ``π₁``.

    Args:
        logits: (B..., m). f: loss of a one-hot sample. tau: temperature of the midpoint.
        generator: source of randomness.

    Reference: Liu et al. (2023), algorithm 2. Chapter 7.
    """
    logits, _ = check_estimator_logits(logits, 1)
    tau = check_tau(tau)
    probs = torch.softmax(logits, dim=-1)  # (B, m), π₀
    b = one_hot(gumbel_argmax(logits, generator), logits.shape[-1], dtype=logits.dtype)  # (B, m)
    mid = (b + torch.softmax(logits / tau, dim=-1)) / 2  # (B, m)
    mid = torch.softmax(logits + (mid.log() - logits).detach().nan_to_num(0.0), dim=-1)  # (B, m), π₁
    z = straight_through(b, 2 * mid - probs / 2)  # (B, m)
    loss = check_loss(f, z)  # (B)
    return Estimate(loss.mean(), loss.detach(), z)
