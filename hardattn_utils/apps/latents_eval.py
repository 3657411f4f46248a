"""Evaluating the categorical VAE of chapter 10: bounds, exact likelihoods, pictures.

Three numbers per image, from loosest to exact: the negative ELBO (Monte Carlo,
:func:`negative_elbo`, or exact, :func:`exact_negative_elbo`), the negative
S-sample importance-weighted bound (:func:`negative_iw_bound`) and the exact
``-log p(x)`` by enumeration (:func:`log_marginal_likelihood`). For every image,
``-ELBO >= E[-IW_S] >= E[-IW_{S+1}] >= -log p(x)`` (Burda et al., 2016).

Shapes: B images, N latent variables, K categories, D = 64 pixels, S samples,
C = K**N codes.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int
from ..categorical import sample_one_hot
from .latents import CategoricalVAE, _check_images

__all__ = [
    "exact_negative_elbo",
    "latent_traversal",
    "log_marginal_likelihood",
    "negative_elbo",
    "negative_iw_bound",
    "reconstruct",
    "tile_images",
]


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
    check_int(num_samples, "num_samples", minimum=1)
    z, _ = sample_one_hot(model.scores(x), num_samples, generator)
    z = z if num_samples > 1 else z.unsqueeze(0)  # (S, B, N, K)
    return model.reconstruction_nll(x, z).mean(0) + model.kl(x)


@torch.no_grad()
def negative_iw_bound(
    model: CategoricalVAE, x: Tensor, *, num_samples: int = 100, generator: torch.Generator | None = None
) -> Tensor:
    """(B,) negative S-sample importance-weighted bound on ``log p(x)``, in nats per image.

    .. math:: -\\mathcal L_S(x) = -\\log \\frac1S \\sum_{s=1}^S
       \\frac{p(x\\mid z_s)\\,p(z_s)}{q(z_s\\mid x)},\\quad z_s \\sim q(z\\mid x)

    Its expectation equals the negative ELBO at S = 1, decreases with S and tends to
    ``-log p(x)`` (Burda, Grosse & Salakhutdinov, 2016). Jang et al. (2017) evaluate
    with S = 1000. Each image costs S decoder evaluations.

    Args:
        model: the VAE.
        x: (B, D) binary images.
        num_samples: S >= 1 importance samples per image.
        generator: source of randomness.

    Chapter 10.
    """
    check_int(num_samples, "num_samples", minimum=1)
    x = _check_images(x, model.num_pixels)
    log_q = torch.log_softmax(model.scores(x), dim=-1)  # (B, N, K)
    z, _ = sample_one_hot(log_q, num_samples, generator)
    z = z if num_samples > 1 else z.unsqueeze(0)  # (S, B, N, K)
    log_q_z = (z * log_q).sum((-1, -2))  # (S, B)
    log_prior = -model.num_latents * math.log(model.num_categories)
    log_w = -model.reconstruction_nll(x, z) + log_prior - log_q_z  # (S, B)
    return -(torch.logsumexp(log_w, dim=0) - math.log(num_samples))


def _all_codes(model: CategoricalVAE, max_codes: int) -> Tensor:
    n, k = model.num_latents, model.num_categories
    if k**n > max_codes:
        raise ValueError(f"enumeration needs K**N = {k}**{n} codes > max_codes = {max_codes}")
    return torch.tensor(list(itertools.product(range(k), repeat=n)), dtype=torch.long)  # (C, N)


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
    check_int(latent, "latent", minimum=0, maximum=model.num_latents - 1)
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
    check_int(pad, "pad", minimum=0)
    rows, cols = images.shape[:2]
    grid = F.pad(images.reshape(rows, cols, side, side), (0, pad, 0, pad)).permute(0, 2, 1, 3)
    grid = grid.reshape(rows * (side + pad), cols * (side + pad))
    return grid[: grid.shape[0] - pad, : grid.shape[1] - pad]
