"""Tests of the categorical VAE (chapter 10): the ELBO and the IW bound are bounds, shapes, errors."""

import math

import pytest
import torch

import hardattn_utils as ha
from hardattn_utils.apps.latents import CategoricalVAE, annealed_straight_through
from hardattn_utils.apps.latents_eval import log_marginal_likelihood, negative_elbo, negative_iw_bound


def _tiny(num_latents: int = 2, seed: int = 0) -> tuple[CategoricalVAE, torch.Tensor]:
    torch.manual_seed(seed)
    model = CategoricalVAE(num_latents=num_latents, num_categories=3, num_pixels=6, hidden=8)
    x = (torch.rand(5, 6, generator=torch.Generator().manual_seed(seed)) > 0.5).float()
    return model, x


def _exact_negative_elbo(model: CategoricalVAE, x: torch.Tensor) -> torch.Tensor:
    """-ELBO by enumeration: sum_z q(z|x) (-log p(x|z)) + KL, written independently of the module."""
    q = torch.softmax(model.scores(x), -1)  # (B, N, K)
    n, k = model.num_latents, model.num_categories
    total = torch.zeros(len(x))
    for code in torch.cartesian_prod(*[torch.arange(k)] * n).reshape(-1, n):
        z = torch.nn.functional.one_hot(code, k).float().expand(len(x), n, k)
        weight = q.gather(-1, code.expand(len(x), n).unsqueeze(-1)).squeeze(-1).prod(-1)
        total += weight * model.reconstruction_nll(x, z)
    return total + model.kl(x)


@pytest.mark.parametrize("num_latents", [1, 2])
def test_negative_elbo_bounds_exact_negative_log_likelihood(num_latents):
    model, x = _tiny(num_latents)
    with torch.no_grad():
        nelbo = _exact_negative_elbo(model, x)
        nll = -log_marginal_likelihood(model, x)
    assert (nelbo >= nll - 1e-5).all()
    assert (nelbo - nll).min() > 1e-4  # a random encoder is not the posterior: the gap is strict


def test_package_exact_negative_elbo_matches_independent_enumeration():
    model, x = _tiny(2)
    with torch.no_grad():
        torch.testing.assert_close(ha.exact_negative_elbo(model, x), _exact_negative_elbo(model, x))


def test_log_marginal_matches_brute_force_sum():
    model, x = _tiny(2)
    with torch.no_grad():
        total = torch.zeros(len(x))
        for code in torch.cartesian_prod(torch.arange(3), torch.arange(3)):
            z = torch.nn.functional.one_hot(code, 3).float().expand(len(x), 2, 3)
            total += torch.exp(-model.reconstruction_nll(x, z)) / 9
        torch.testing.assert_close(log_marginal_likelihood(model, x), total.log())


def test_elbo_equals_log_likelihood_at_the_true_posterior():
    """With q = p(z|x) (one latent), -ELBO = -log p(x) exactly: the bound is tight."""
    model, x = _tiny(1)
    with torch.no_grad():
        _use_the_true_posterior(model, x)
        torch.testing.assert_close(_exact_negative_elbo(model, x), -log_marginal_likelihood(model, x))


def test_monte_carlo_negative_elbo_is_unbiased():
    model, x = _tiny(2)
    draws = torch.stack(
        [
            negative_elbo(model, x, num_samples=50, generator=torch.Generator().manual_seed(s))
            for s in range(20)
        ]
    )
    se = draws.std(0) / math.sqrt(len(draws))
    exact = _exact_negative_elbo(model, x).detach()
    assert ((draws.mean(0) - exact).abs() <= 4 * se + 1e-6).all()


@pytest.mark.parametrize("name", list(ha.ESTIMATORS))
def test_objective_runs_with_every_estimator(name):
    model, x = _tiny(2)
    hyper = {"num_samples": 3} if name == "RLOO" else {}
    surrogate, metrics = ha.vae_objective(name, **hyper)(model, x, 1)
    surrogate.backward()
    assert surrogate.dim() == 0 and torch.isfinite(surrogate)
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert set(metrics) == {"loss", "kl"}


def test_score_function_gradient_matches_exact_elbo_gradient():
    """REINFORCE through vae_objective (with the N-latent share trick) is unbiased for the encoder."""
    model, x = _tiny(2)
    weight = model.encoder[-1].bias
    exact = torch.autograd.grad(_exact_negative_elbo(model, x).mean(), weight)[0]
    grads = []
    objective = ha.vae_objective("RLOO", num_samples=16, generator=torch.Generator().manual_seed(1))
    for step in range(100):
        grads.append(torch.autograd.grad(objective(model, x, step)[0], weight)[0])
    grads = torch.stack(grads)
    se = grads.std(0) / math.sqrt(len(grads))
    assert ((grads.mean(0) - exact).abs() <= 4 * se + 1e-6).all()


def test_shapes_of_helpers():
    model = CategoricalVAE(num_latents=3)
    x = torch.zeros(7, 64)
    assert model.scores(x).shape == (7, 3, 10)
    assert ha.reconstruct(model, x).shape == (7, 64)
    assert ha.latent_traversal(model, x[0], 2).shape == (10, 64)
    assert negative_elbo(model, x, num_samples=1).shape == (7,)
    assert ha.tile_images(torch.zeros(2, 5, 64)).shape == (16, 40)
    tiled = ha.tile_images(torch.arange(2 * 3 * 64.0).view(2, 3, 64), pad=1)
    assert tiled.shape == (17, 26) and tiled[8].sum() == 0 and tiled[:, 8].sum() == 0
    assert torch.equal(tiled[9:, 18:], torch.arange(5 * 64.0, 6 * 64).view(8, 8))


def test_errors_name_arguments():
    model = CategoricalVAE(num_latents=3)
    with pytest.raises(ValueError, match="num_latents"):
        CategoricalVAE(num_latents=0)
    with pytest.raises(ValueError, match="x must have shape"):
        model.scores(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="latent"):
        ha.latent_traversal(model, torch.zeros(64), 3)
    with pytest.raises(ValueError, match="max_codes"):
        log_marginal_likelihood(model, torch.zeros(1, 64), max_codes=10)
    with pytest.raises(ValueError, match="num_samples"):
        negative_elbo(model, torch.zeros(1, 64), num_samples=0)


def test_fit_vae_is_reproducible_per_seed():
    x = (torch.rand(40, 64, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    runs = [
        ha.latents.fit_vae("ST softmax", x, 3, seed=s, batch_size=b)
        for s, b in [(2, 128), (2, 32), (2, 128), (3, 128)]
    ]
    same = lambda a, b: all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))  # noqa: E731
    assert same(runs[0][0], runs[2][0])  # same seed, same batches: the same model
    assert not same(runs[0][0], runs[1][0]) and not same(runs[0][0], runs[3][0])
    assert "seed" in runs[3][1].columns and isinstance(runs[3][0], CategoricalVAE)
    with pytest.raises(ValueError, match="batch_size"):
        ha.latents.fit_vae("ST softmax", x, 1, seed=0, batch_size=129)


def _iw_draws(model, x, num_samples, draws=200):
    return torch.stack(
        [
            negative_iw_bound(model, x, num_samples=num_samples, generator=torch.Generator().manual_seed(s))
            for s in range(draws)
        ]
    )  # (draws, B)


def test_iw_bound_lies_between_elbo_and_log_likelihood_and_tightens():
    """E[-IW_1] = -ELBO; E[-IW_S] decreases with S; it stays above -log p(x) and nears it."""
    model, x = _tiny(2)
    with torch.no_grad():
        nelbo, nll = _exact_negative_elbo(model, x), -log_marginal_likelihood(model, x)
        draws = {s: _iw_draws(model, x, s, draws=400) for s in (1, 4, 64)}  # (draws, B)
    mean = {s: d.mean(0) for s, d in draws.items()}  # (B,)
    se = {s: d.std(0) / math.sqrt(len(d)) for s, d in draws.items()}
    assert ((mean[1] - nelbo).abs() <= 4 * se[1] + 1e-6).all()  # S = 1 is the ELBO, unbiased
    avg = {
        s: (m.mean().item(), se[s].pow(2).mean().sqrt().item() / math.sqrt(len(x))) for s, m in mean.items()
    }
    assert avg[1][0] - avg[4][0] > 4 * avg[1][1]  # tightens with S ...
    assert avg[4][0] - avg[64][0] > 4 * avg[4][1]
    assert (mean[64] >= nll - 4 * se[64] - 1e-6).all()  # ... but never below -log p(x)
    assert ((mean[64] - nll) < 0.25 * (nelbo - nll)).all()  # 64 samples close most of the gap


def test_iw_bound_is_exact_at_the_true_posterior():
    """With q = p(z|x) every importance weight equals p(x): one sample gives -log p(x) exactly."""
    model, x = _tiny(1)
    with torch.no_grad():
        _use_the_true_posterior(model, x)
        bound = negative_iw_bound(model, x, num_samples=1, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(bound, -log_marginal_likelihood(model, x))


def test_iw_bound_errors_and_shape():
    model, x = _tiny(2)
    assert negative_iw_bound(model, x, num_samples=3).shape == (5,)
    with pytest.raises(ValueError, match="num_samples"):
        negative_iw_bound(model, x, num_samples=0)
    with pytest.raises(ValueError, match="x must have shape"):
        negative_iw_bound(model, torch.zeros(2, 5))


def test_annealed_straight_through_is_st_softmax_at_tau_one_and_steeper_below():
    logits = torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    target = torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(1))
    f = lambda z: ((z - target) ** 2).sum(-1)  # noqa: E731

    def grad(estimator, **hyper):
        est = estimator(logits, f, generator=torch.Generator().manual_seed(3), **hyper)
        return torch.autograd.grad(est.surrogate, logits)[0], est.z

    g1, z1 = grad(annealed_straight_through, tau=1.0)
    g_st, z_st = grad(ha.straight_through_softmax)
    torch.testing.assert_close(g1, g_st)
    assert torch.equal(z1, z_st) and torch.equal(z1.sum(-1), torch.ones(6, 2))
    g_half, z_half = grad(annealed_straight_through, tau=0.5)
    assert torch.equal(z_half, z1)  # the same hard sample forward
    assert not torch.allclose(g_half, g1)  # a different (steeper) backward pass
    with pytest.raises(ValueError, match="tau"):
        annealed_straight_through(logits, f, tau=0.0)


def test_vae_objective_runs_with_muprop_and_annealed_st():
    model, x = _tiny(2)
    for estimator, hyper in [
        (ha.control_variate, {"c": 1.0}),
        (annealed_straight_through, {"tau": lambda t: 0.5}),
    ]:
        surrogate, _ = ha.vae_objective(estimator, **hyper)(model, x, 1)
        surrogate.backward()
        assert torch.isfinite(surrogate) and all(p.grad is not None for p in model.encoder.parameters())


def test_vae_objective_hands_a_learned_baselines_weights_to_fit():
    objective = ha.vae_objective("REINFORCE + learned baseline")
    weights = objective.parameters()
    assert weights and all(w.requires_grad for w in weights)
    model = ha.CategoricalVAE(num_latents=2, num_categories=3, num_pixels=4, hidden=8)
    assert set(map(id, weights)) <= set(map(id, ha.train.trainable(model, objective)))


def _use_the_true_posterior(model, x):
    """Make the encoder of a one-latent, three-category model return q = p(z | x) exactly."""
    codes = torch.eye(3).unsqueeze(1)  # (K, 1, K)
    log_joint = -model.reconstruction_nll(x, codes.unsqueeze(1).expand(3, len(x), 1, 3)).T - math.log(3)
    posterior_logits = log_joint - log_joint.logsumexp(-1, keepdim=True)  # (B, K)
    model.scores = lambda _: posterior_logits.unsqueeze(1)  # type: ignore[method-assign]
