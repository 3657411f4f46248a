"""A categorical VAE on binarised 8×8 digits, trainable with every estimator.

``N`` latent variables of ``K`` categories each, a small MLP encoder and decoder,
a Bernoulli likelihood and a uniform categorical prior; the KL term is exact
(summed over the ``K`` categories), so only the reconstruction term needs a
gradient estimator. Chapter 10 (``10_discrete_latents``) trains it with each one;
:mod:`hardattn_utils.apps.latents_eval` evaluates it (bounds, exact likelihoods).

Shapes: B images, N latent variables, K categories, D = 64 pixels, S samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_estimator_logits, check_int, check_loss, check_real
from ..categorical import one_hot
from ..estimators import Estimate, LossFn
from ..sampling import gumbel_argmax, straight_through
from ..train import Objective, estimator_objective, fit

__all__ = [
    "CategoricalVAE",
    "annealed_straight_through",
    "fit_vae",
    "vae_objective",
]


def _positive_int(name: str, value: object) -> int:
    return check_int(value, name, minimum=1)


def _check_images(x: object, num_pixels: int) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != num_pixels:
        raise ValueError(f"x must have shape (B, {num_pixels}), got {tuple(x.shape)}")
    return x


class CategoricalVAE(nn.Module):
    """VAE with ``num_latents`` categorical latents of ``num_categories`` classes.

    .. math:: q(z\\mid x) = \\prod_n \\mathrm{Cat}(z_n; \\mathrm{softmax}(\\ell_n(x))),\\quad
       p(z) = \\prod_n \\mathrm{Cat}(z_n; 1/K),\\quad p(x\\mid z) = \\mathrm{Bernoulli}(\\sigma(g(z)))

    As a *selection model* it exposes ``scores(x)`` (B, N, K) and
    ``selection_loss(x)``, so :func:`hardattn_utils.estimator_objective` drives it.

    Reference: Jang, Gu & Poole (2017); Kingma & Welling (2014). Chapter 10.
    """

    def __init__(
        self, num_latents: int = 4, num_categories: int = 10, num_pixels: int = 64, hidden: int = 128
    ) -> None:
        super().__init__()
        self.num_latents = _positive_int("num_latents", num_latents)
        self.num_categories = _positive_int("num_categories", num_categories)
        self.num_pixels = _positive_int("num_pixels", num_pixels)
        _positive_int("hidden", hidden)
        code = num_latents * num_categories
        self.encoder = nn.Sequential(nn.Linear(num_pixels, hidden), nn.ReLU(), nn.Linear(hidden, code))
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, num_pixels))

    def scores(self, x: Tensor) -> Tensor:
        """(B, N, K) encoder logits of q(z | x)."""
        x = _check_images(x, self.num_pixels)
        return self.encoder(x).view(x.shape[0], self.num_latents, self.num_categories)

    def decode(self, z: Tensor) -> Tensor:
        """(..., N, K) one-hot or relaxed codes -> (..., D) Bernoulli logits."""
        return self.decoder(z.flatten(-2))

    def reconstruction_nll(self, x: Tensor, z: Tensor) -> Tensor:
        """(..., B) ``-log p(x | z)`` in nats for codes ``z`` (..., B, N, K)."""
        logits = self.decode(z)
        return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    def kl(self, x: Tensor) -> Tensor:
        """(B,) exact ``KL(q(z|x) || p(z))`` summed over the N latents.

        .. math:: \\mathrm{KL} = \\sum_n \\sum_k q_{nk} (\\log q_{nk} + \\log K)
        """
        log_q = torch.log_softmax(self.scores(x), dim=-1)
        return (log_q.exp() * (log_q + math.log(self.num_categories))).sum((-1, -2))

    def selection_loss(self, x: Tensor) -> LossFn:
        """Loss of codes ``z`` (..., B, N, K) for an estimator, shape (..., B, N).

        Every latent n of image b carries the image's whole reconstruction loss
        ``L_b`` (the score-function weight of ``log q(z_n|x)``), while the pathwise
        gradient is split over the N copies:

        .. math:: f_{bn}(z) = \\mathrm{sg}(L_b) + \\big(L_b - \\mathrm{sg}(L_b)\\big)/N

        Estimators average over (B, N), so ``N * surrogate`` is the gradient of
        ``mean_b E[L_b]`` for every estimator (:func:`vae_objective` does this).
        """
        n = self.num_latents

        def loss(z: Tensor) -> Tensor:
            nll = self.reconstruction_nll(x, z)
            share = nll.detach() + (nll - nll.detach()) / n
            return share.unsqueeze(-1).expand(*nll.shape, n)

        return loss


def vae_objective(estimator: str | Callable[..., Estimate], **hyper: Any) -> Objective:
    """Objective for :func:`hardattn_utils.fit`: the negative ELBO with an estimator.

    .. math:: \\mathcal L = \\mathbb E_{q}[-\\log p(x\\mid z)] + \\mathrm{KL}(q(z\\mid x)\\,\\|\\,p(z))

    The reconstruction term goes through ``estimator`` (any estimator, e.g. a
    :class:`hardattn_utils.MovingAverageBaseline` for REINFORCE with a baseline);
    the KL term is exact.

    Args:
        estimator: a name in ``ESTIMATORS`` or an estimator.
        **hyper: the estimator's hyper-parameters (a callable is called with the step).

    Returns:
        ``(model, x, step) -> (surrogate, {"loss": train negative ELBO, "kl": KL})``.

    Chapter 10.
    """
    inner = estimator_objective(estimator, **hyper)

    def objective(model: CategoricalVAE, x: Tensor, step: int) -> tuple[Tensor, dict[str, float]]:
        est = inner(model, x, step)
        kl = model.kl(x).mean()
        recon = est.loss.mean()
        surrogate = model.num_latents * est.surrogate + kl
        return surrogate, {"loss": (recon + kl).item(), "kl": kl.item()}

    objective.parameters = inner.parameters  # a learned baseline's weights reach fit's optimiser
    return objective


def annealed_straight_through(
    logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """Slope-annealed straight-through: a one-hot sample forward, ``softmax(logits/τ)``'s gradient back.

    .. math:: \\hat g = \\frac{\\partial f}{\\partial z}\\Big|_{z=e_i}
       \\frac{\\partial\\,\\mathrm{softmax}(\\ell/\\tau)}{\\partial \\ell},\\quad i \\sim p

    Lowering τ during training raises the slope ``1/τ`` of the backward pass, the
    categorical form of Chung, Ahn & Bengio's (2017) slope annealing, one of the
    baselines of Jang et al. (2017). At τ = 1 it is straight-through softmax.

    Args:
        logits: (B..., K).
        f: loss of a one-hot ``z``, differentiable in ``z``.
        tau: the backward temperature τ > 0 (a schedule goes through ``vae_objective``).
        generator: source of randomness.

    Chapter 10.
    """
    logits, _ = check_estimator_logits(logits, 1)
    tau = check_real(tau, "tau", minimum=0.0, open_min=True)
    index = gumbel_argmax(logits, generator)  # (B...)
    probs = torch.softmax(logits / tau, dim=-1)  # (B..., K)
    z = straight_through(one_hot(index, logits.shape[-1], dtype=logits.dtype), probs)  # (B..., K)
    loss = check_loss(f, z)  # (B...)
    return Estimate(loss.mean(), loss.detach(), z)


def fit_vae(
    estimator: str | Callable[..., Estimate],
    x_train: Tensor,
    num_steps: int,
    *,
    seed: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    num_latents: int = 4,
    num_categories: int = 10,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    eval_every: int = 50,
    label: str = "",
    **hyper: Any,
) -> tuple[CategoricalVAE, pd.DataFrame]:
    """Train one :class:`CategoricalVAE` for one seed with :func:`vae_objective`.

    The seed fixes the initial weights (``torch.manual_seed(seed)``), the batches and
    the estimator's sampling noise. Step t draws 128 training indices with seed
    ``1000 * seed + t`` and keeps the first ``batch_size``, so every run of a seed
    sees the same images, a smaller batch a prefix of the larger one (equal-cost
    comparisons: 32 images × 4 samples against 128 × 1).

    Args:
        estimator: as for :func:`vae_objective` (a stateful one, such as a
            moving-average baseline, must be fresh for every run).
        x_train: (n, D) binary training images.
        num_steps: Adam steps.
        seed: the run's seed.
        batch_size: images per step (<= 128).
        **hyper: the estimator's hyper-parameters.

    Returns:
        ``(model, log)``: the trained VAE and :func:`hardattn_utils.fit`'s log with a
        ``seed`` column. Chapter 10.
    """
    if not 1 <= _positive_int("batch_size", batch_size) <= 128:
        raise ValueError(f"batch_size must be at most 128, got {batch_size}")

    def batches(step: int) -> Tensor:
        gen = torch.Generator().manual_seed(1000 * seed + step)
        return x_train[torch.randint(len(x_train), (128,), generator=gen)[:batch_size]]

    torch.manual_seed(seed)
    model = CategoricalVAE(num_latents=num_latents, num_categories=num_categories)
    objective = vae_objective(estimator, generator=torch.Generator().manual_seed(100 + seed), **hyper)
    log = fit(
        model,
        objective,
        batches,
        num_steps,
        lr=lr,
        evaluate=evaluate,
        eval_every=eval_every,
        label=label,
        progress=False,
    )
    return model, log.assign(seed=seed)
