"""Expert routing (chapter 13): invariants, brute force, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import hardattn_utils as ha


def _layer(num_experts: int = 4, dim: int = 5, seed: int = 0) -> ha.ExpertMixture:
    torch.manual_seed(seed)
    layer = ha.ExpertMixture(dim, 3, num_experts)
    with torch.no_grad():
        layer.router.weight.normal_()  # decisive routes
    return layer


@pytest.mark.parametrize("k", [1, 2, 3])
def test_each_token_goes_to_at_most_k_experts(k: int) -> None:
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    routed = _layer()(x, k=k)
    assert int((routed.weights != 0).sum(-1).max()) <= k
    assert routed.indices.shape == (64, k)
    assert all(len(set(row.tolist())) == k for row in routed.indices)  # k distinct experts


@pytest.mark.parametrize(("k", "factor"), [(1, 1.0), (1, 0.5), (2, 1.25), (2, 0.3)])
def test_capacity_is_respected(k: int, factor: float) -> None:
    layer, x = _layer(), torch.randn(100, 5, generator=torch.Generator().manual_seed(2))
    routed = layer(x, k=k, capacity_factor=factor)
    capacity = ha.expert_capacity(100, 4, factor, k)
    per_expert = torch.zeros(4).index_add_(0, routed.indices[routed.kept], torch.ones(int(routed.kept.sum())))
    assert per_expert.max() <= capacity
    dropped = ~routed.kept  # a dropped slot contributes nothing
    assert torch.all(routed.weights.gather(-1, routed.indices)[dropped] == 0)
    if factor < 1:
        assert dropped.any()


def test_capacity_keeps_first_come_first_served() -> None:
    indices = torch.tensor([[0], [0], [1], [0]])
    kept = ha.within_capacity(indices, 2, 2)
    assert kept.squeeze(-1).tolist() == [True, True, True, False]
    assert ha.expert_capacity(10, 4, 1.0) == 3 and ha.expert_capacity(10, 4, 1.25, k=2) == 7


def test_balance_loss_is_alpha_at_uniform_load_and_larger_otherwise() -> None:
    alpha, num_experts = 0.01, 4
    uniform_logits = torch.zeros(8, num_experts)
    uniform_routes = torch.arange(8).remainder(num_experts)[:, None]
    loss = ha.balance_loss(uniform_logits, uniform_routes, alpha)
    assert loss.item() == pytest.approx(alpha, rel=1e-6)
    collapsed = ha.balance_loss(
        torch.tensor([[30.0, 0, 0, 0]]).expand(8, 4), torch.zeros(8, 1, dtype=torch.long), alpha
    )
    assert collapsed.item() == pytest.approx(alpha * num_experts, rel=1e-6)
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):  # a router whose routes follow its own probabilities
        logits = 3 * torch.randn(32, num_experts, generator=gen)
        loss = ha.balance_loss(logits, logits.argmax(-1, keepdim=True), alpha)
        assert loss.item() >= alpha * 0.999
    two = ha.balance_loss(torch.zeros(2, 8, 4), torch.zeros(2, 8, 2, dtype=torch.long), alpha)
    assert two.shape == (2,)


def test_top1_output_is_the_chosen_expert_times_its_gate_by_brute_force() -> None:
    layer, x = _layer(), torch.randn(20, 5, generator=torch.Generator().manual_seed(4))
    routed = layer(x, k=1)
    for t in range(20):
        probs = torch.softmax(layer.router(x[t]), -1)
        best = int(probs.argmax())
        expected = probs[best] * (layer.weight[best] @ x[t] + layer.bias[best])
        torch.testing.assert_close(routed.output[t], expected)


def test_top2_gates_are_renormalised_over_the_kept_experts() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    indices, gates = ha.top_k_gates(logits, 2)
    assert indices.tolist() == [[0, 1]]
    torch.testing.assert_close(gates, torch.softmax(torch.tensor([[2.0, 1.0]]), -1))
    assert ha.top_k_gates(logits, 1)[1].item() == pytest.approx(torch.softmax(logits, -1)[0, 0].item())


@pytest.mark.parametrize("k", [1, 2])
def test_dispatch_runs_only_chosen_experts_and_matches_forward(k: int) -> None:
    layer, x = _layer(8), torch.randn(50, 5, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(layer.dispatch(x, k), layer(x, k=k).output.detach())
    with FlopCounterMode(display=False) as counter:
        layer.dispatch(x, k)
    assert counter.get_total_flops() == 50 * ha.routing_flops(5, 3, 8, k)


def test_flops_formula() -> None:
    assert ha.routing_flops(16, 16, 8, 1) == 2 * 16 * 8 + 2 * 16 * 16
    assert ha.routing_flops(16, 16, 8, None) == 2 * 16 * 8 + 8 * 2 * 16 * 16
    layer, x = _layer(6), torch.randn(10, 5)
    with FlopCounterMode(display=False) as counter:  # the dense mixture computes all E
        layer.router(x), layer.experts(x)
    assert counter.get_total_flops() == 10 * ha.routing_flops(5, 3, 6, None)


def test_router_learns_through_the_gate_only() -> None:
    layer, x = _layer(), torch.randn(1, 5, generator=torch.Generator().manual_seed(6))
    logits = layer.router(x).detach().requires_grad_(True)
    indices, gates = ha.top_k_gates(logits, 1)
    best = int(indices)
    expert_out = (layer.weight[best] @ x[0] + layer.bias[best]).detach()  # (d_out,)
    (gates[0, 0] * expert_out).sum().backward()
    probs = torch.softmax(logits.detach(), -1)[0]
    exact = probs[best] * (torch.eye(4)[best] - probs) * expert_out.sum()  # ∂(p_i ΣE_i)/∂ℓ
    torch.testing.assert_close(logits.grad[0], exact)
    layer.zero_grad()
    routed = layer(x, k=1)
    frozen = (routed.weights.detach() * layer.experts(x)[..., 0]).sum()  # gates held fixed
    frozen.backward()
    assert layer.router.weight.grad is None or torch.all(layer.router.weight.grad == 0)


def test_dense_mixture_is_the_explicit_weighted_sum() -> None:
    layer, x = _layer(), torch.randn(7, 5, generator=torch.Generator().manual_seed(7))
    routed = layer(x, k=None)
    probs = torch.softmax(layer.router(x), -1)
    explicit = sum(probs[:, i, None] * (x @ layer.weight[i].T + layer.bias[i]) for i in range(4))
    torch.testing.assert_close(routed.output, explicit)


def test_bad_arguments_raise_errors_naming_them() -> None:
    layer = _layer()
    with pytest.raises(ValueError, match="k"):
        layer(torch.randn(3, 5), k=5)
    with pytest.raises(ValueError, match="k"):
        ha.top_k_gates(torch.randn(3, 4), 0)
    with pytest.raises(ValueError, match="capacity_factor"):
        ha.expert_capacity(10, 4, 0.0)
    with pytest.raises(ValueError, match="capacity"):
        ha.within_capacity(torch.zeros(3, 1, dtype=torch.long), 2, 0)
    with pytest.raises(ValueError, match="x must have shape"):
        layer(torch.randn(3, 4))
    with pytest.raises(ValueError, match="indices"):
        ha.balance_loss(torch.randn(3, 4), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="logits"):
        ha.top_k_gates(torch.tensor([[float("nan"), 0.0]]), 1)
    with pytest.raises(ValueError, match="num_experts"):
        ha.ExpertMixture(4, 4, 0)
    with pytest.raises(ValueError, match="k"):
        ha.routing_flops(4, 4, 2, 3)


def test_extreme_router_logits_stay_finite() -> None:
    logits = torch.tensor([[1e4, -1e4, 0.0, float("-inf")], [float("-inf")] * 3 + [5.0]])
    for k in (1, 2):
        _, gates = ha.top_k_gates(logits, k)
        assert torch.isfinite(gates).all()
    assert torch.isfinite(ha.balance_loss(logits, logits.argmax(-1, keepdim=True))).all()
    layer = _layer()
    with torch.no_grad():
        layer.router.weight.mul_(1e4)
    assert torch.isfinite(layer(torch.randn(6, 5), k=2, capacity_factor=1.0).output).all()


def test_purity_and_distinct_experts() -> None:
    cluster = torch.tensor([0, 0, 1, 1, 2, 2])
    best = torch.tensor([3, 3, 1, 1, 0, 0])
    purity, distinct = ha.routing_purity(best, cluster, 3)
    assert purity.item() == 1.0 and distinct.item() == 3
    shared = torch.tensor([3, 3, 3, 1, 0, 0])
    purity, distinct = ha.routing_purity(shared, cluster, 3)
    assert purity.item() == pytest.approx((1 + 0.5 + 1) / 3) and distinct.item() == 3
    assert ha.routing_purity(torch.zeros(6, dtype=torch.long), cluster, 3)[1].item() == 1


def test_training_log_and_costs() -> None:
    task = ha.RoutingTask(num_clusters=4, dim=4)
    test = task.sample(64, torch.Generator().manual_seed(1))
    _, log = ha.train_routing_seeds(task, "top-1 router", test, num_experts=4, num_steps=4, eval_every=2)
    assert {"seed", "step", "metric", "value"} <= set(log.columns)
    assert set(log["seed"]) == set(ha.SEEDS)
    assert ha.expert_evaluations("dense mixture", 8) == 8 and ha.expert_evaluations("top-2 router", 8) == 2
    assert ha.expert_evaluations("ST Gumbel-Softmax", 8) == 8
    assert ha.expert_evaluations("RLOO", 8, num_samples=2) == 2
    assert math.isclose(ha.expert_evaluations("REINFORCE", 8), 1)
