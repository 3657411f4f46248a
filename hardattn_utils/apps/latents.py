"""A categorical VAE on binarised 8×8 digits, trainable with every estimator.

``N`` latent variables of ``K`` categories each, a small MLP encoder and decoder,
a Bernoulli likelihood and a uniform categorical prior; the KL term is exact
(summed over the ``K`` categories), so only the reconstruction term needs a
gradient estimator. Chapter 10 (``10_discrete_latents``) trains it with each one.

Shapes: B images, N latent variables, K categories, D = 64 pixels, S samples.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..estimators import Estimate, LossFn, sample_one_hot
from ..train import Objective, estimator_objective, fit

__all__ = [
    "CategoricalVAE",
    "exact_negative_elbo",
    "fit_vae",
    "latent_traversal",
    "log_marginal_likelihood",
    "negative_elbo",
    "reconstruct",
    "tile_images",
    "vae_objective",
]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


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

    return objective


@torch.no_grad()
def negative_elbo(
    model: CategoricalVAE, x: Tensor, *, num_samples: int = 16, generator: torch.Generator | None = None
) -> Tensor:
    """(B,) Monte-Carlo negative ELBO with hard one-hot samples, in nats per image.

    .. math:: -\\mathrm{ELBO}(x) \\approx \\frac1S\\sum_s -\\log p(x\\mid z_s) + \\mathrm{KL},
       \\quad z_s \\sim q(z\\mid x)

    Args:
        model: the VAE.
        x: (B, D) binary images.
        num_samples: S one-hot samples per image.
        generator: source of randomness.

    Chapter 10.
    """
    _positive_int("num_samples", num_samples)
    z, _ = sample_one_hot(model.scores(x), num_samples, generator)
    z = z if num_samples > 1 else z.unsqueeze(0)  # (S, B, N, K)
    return model.reconstruction_nll(x, z).mean(0) + model.kl(x)


def _all_codes(model: CategoricalVAE, max_codes: int) -> Tensor:
    n, k = model.num_latents, model.num_categories
    if k**n > max_codes:
        raise ValueError(f"enumeration needs K**N = {k}**{n} codes > max_codes = {max_codes}")
    return torch.tensor(list(itertools.product(range(k), repeat=n)), dtype=torch.long)  # (K^N, N)


def _log_likelihoods(model: CategoricalVAE, x: Tensor, max_codes: int) -> tuple[Tensor, Tensor]:
    x = _check_images(x, model.num_pixels)
    codes = _all_codes(model, max_codes)  # (C, N)
    logits = model.decode(F.one_hot(codes, model.num_categories).float())  # (C, D)
    return x @ logits.T - F.softplus(logits).sum(-1), codes  # (B, C): sum_d log Bernoulli


@torch.no_grad()
def log_marginal_likelihood(model: CategoricalVAE, x: Tensor, *, max_codes: int = 100_000) -> Tensor:
    """(B,) exact ``log p(x)`` by enumerating all K**N codes (small models only).

    .. math:: \\log p(x) = \\log \\sum_z p(z)\\, p(x\\mid z)

    Args:
        model: the VAE.
        x: (B, D) binary images.
        max_codes: refuse (``ValueError``) when K**N exceeds this.

    Chapter 10.
    """
    log_lik, _ = _log_likelihoods(model, x, max_codes)
    return torch.logsumexp(log_lik, dim=-1) - model.num_latents * math.log(model.num_categories)


@torch.no_grad()
def exact_negative_elbo(model: CategoricalVAE, x: Tensor, *, max_codes: int = 100_000) -> Tensor:
    """(B,) negative ELBO with the expectation over q computed exactly by enumeration.

    .. math:: -\\mathrm{ELBO}(x) = \\sum_z q(z\\mid x)\\,(-\\log p(x\\mid z)) + \\mathrm{KL}

    Args: as :func:`log_marginal_likelihood`. Chapter 10.
    """
    log_lik, codes = _log_likelihoods(model, x, max_codes)
    log_q = torch.log_softmax(model.scores(x), -1)  # (B, N, K)
    log_q_codes = log_q[:, torch.arange(model.num_latents), codes].sum(-1)  # (B, C)
    return -(log_q_codes.exp() * log_lik).sum(-1) + model.kl(x)


@torch.no_grad()
def reconstruct(model: CategoricalVAE, x: Tensor) -> Tensor:
    """(B, D) pixel probabilities decoded from the most probable code ``argmax q(z|x)``."""
    index = model.scores(x).argmax(-1)
    return torch.sigmoid(model.decode(F.one_hot(index, model.num_categories).float()))


@torch.no_grad()
def latent_traversal(model: CategoricalVAE, x: Tensor, latent: int) -> Tensor:
    """(K, D) decodings of one image's argmax code with latent ``latent`` set to each category.

    Args:
        model: the VAE.
        x: (D,) one image.
        latent: which latent variable n (0 <= n < N) to sweep.
    """
    if isinstance(latent, bool) or not isinstance(latent, int) or not 0 <= latent < model.num_latents:
        raise ValueError(f"latent must be an int in [0, {model.num_latents}), got {latent!r}")
    index = model.scores(x.reshape(1, -1)).argmax(-1).repeat(model.num_categories, 1)  # (K, N)
    index[:, latent] = torch.arange(model.num_categories)
    return torch.sigmoid(model.decode(F.one_hot(index, model.num_categories).float()))


def tile_images(images: Tensor, side: int = 8, pad: int = 0) -> Tensor:
    """Tile (rows, cols, side*side) images into one array for ``imshow``, ``pad`` zero pixels apart.

    Returns:
        (rows*(side+pad) - pad, cols*(side+pad) - pad) tensor.
    """
    if images.dim() != 3 or images.shape[-1] != side * side:
        raise ValueError(f"images must have shape (rows, cols, {side * side}), got {tuple(images.shape)}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be an int >= 0, got {pad!r}")
    rows, cols = images.shape[:2]
    grid = F.pad(images.reshape(rows, cols, side, side), (0, pad, 0, pad)).permute(0, 2, 1, 3)
    grid = grid.reshape(rows * (side + pad), cols * (side + pad))
    return grid[: grid.shape[0] - pad, : grid.shape[1] - pad]


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
