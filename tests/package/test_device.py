"""Device handling: outputs stay on the input's device (CPU always, CUDA when present).

The device logic is checked on CPU by monkeypatching ``torch.cuda.is_available``; the
device-propagation tests run on every available device (CPU always, CUDA when present).
"""

from __future__ import annotations

import functools

import pytest
import torch

import hardattn_utils as ha

CUDA = torch.cuda.is_available()
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not CUDA, reason="no CUDA device here: device propagation checked on CPU only"
        ),
    ),
]


def test_gumbel_noise_defaults_to_the_generators_device():
    noise = ha.gumbel_noise((3, 4), generator=torch.Generator().manual_seed(0))
    assert noise.device == torch.device("cpu")


def _loss(z: torch.Tensor) -> torch.Tensor:
    return (z * torch.arange(z.shape[-1], device=z.device, dtype=z.dtype)).sum(-1)


@pytest.mark.parametrize("device", DEVICES)
def test_sampling_and_attention_outputs_stay_on_the_input_device(device):
    gen = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(4, 5, device=device, generator=gen)
    mask = torch.ones(4, 5, dtype=torch.bool, device=device).index_fill_(
        1, torch.tensor([0], device=device), False
    )
    values = torch.randn(4, 5, 3, device=device, generator=gen)
    outputs = {
        "gumbel_noise": ha.gumbel_noise((4, 5), device=device, generator=gen),
        "gumbel_max_sample": ha.gumbel_max_sample(logits, mask=mask, generator=gen),
        "gumbel_softmax": ha.gumbel_softmax(logits, tau=0.5, mask=mask, generator=gen),
        "gumbel_softmax hard": ha.gumbel_softmax(logits, hard=True, dim=0, generator=gen),
        "masked_softmax": ha.masked_softmax(logits, mask),
        "soft_attention": ha.soft_attention(logits, values, mask)[0],
        "hard_attention argmax": ha.hard_attention(logits, values, mask)[0],
        "hard_attention sample": ha.hard_attention(logits, values, mask, mode="sample", generator=gen)[1],
        "straight_through": ha.straight_through(ha.one_hot(logits.argmax(-1), 5).to(device), logits),
    }
    wrong = {name: str(t.device) for name, t in outputs.items() if t.device.type != torch.device(device).type}
    assert not wrong, f"left {device}: {wrong}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(ha.ESTIMATORS))
def test_estimator_gradients_stay_on_the_input_device(device, name):
    gen = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(6, 5, device=device, generator=gen).requires_grad_(True)
    try:
        estimate = ha.ESTIMATORS[name](logits, _loss, generator=gen)
    except TypeError as error:  # an estimator that needs more than (logits, f, generator)
        pytest.skip(f"{name} needs extra arguments: {error}")
    estimate.surrogate.backward()
    assert estimate.z.device.type == logits.device.type
    assert logits.grad is not None and logits.grad.device.type == logits.device.type


@pytest.mark.parametrize("device", DEVICES)
def test_exact_enumeration_and_statistics_work_on_the_input_device(device):
    logits = torch.randn(3, 4, device=device, generator=torch.Generator(device=device).manual_seed(0))
    assert ha.expected_loss(logits, _loss).device.type == logits.device.type
    assert ha.exact_gradient(logits, _loss).device.type == logits.device.type
    gen = torch.Generator(device=device).manual_seed(1)
    stats = ha.gradient_stats(functools.partial(ha.rloo, num_samples=3), logits, _loss, 50, gen)
    assert len(stats) == logits.numel() and stats["variance"].notna().all()
