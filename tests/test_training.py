"""The losses of phase 1 and the entropy schedule, against their formulas."""

import copy
import math

import pytest
import torch
from torch import nn

from danogan_sk.nn import NetworkSpec, build_networks
from danogan_sk.training import (
    TrainingConfig,
    _adam,
    _load_optimizer_state,
    _step,
    bandit_loss,
    critic_loss,
    entropy_weight_at,
    gradient_penalty,
)


class LinearCritic(nn.Module):
    """D(x) = w . x, with D_i = x: its input gradient is w everywhere."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight, x


def test_gradient_penalty_is_one_sided():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    # gradient norm 0.5 < 1: no penalty
    assert gradient_penalty(LinearCritic([0.3, 0.4]), real, fake, gen).item() == 0.0
    # gradient norm 5: (5 - 1)^2 = 16
    penalty = gradient_penalty(LinearCritic([3.0, 4.0]), real, fake, gen)
    assert penalty.item() == pytest.approx(16.0)


def test_critic_loss_is_fake_minus_real_plus_penalty():
    gen = torch.Generator().manual_seed(0)
    critic = LinearCritic([3.0, 4.0])
    real = torch.ones(4, 2, dtype=torch.float64)
    fake = torch.zeros(4, 2, dtype=torch.float64)
    loss, wasserstein, penalty, features = critic_loss(critic, real, fake, 10.0, gen)
    assert wasserstein.item() == pytest.approx(7.0)  # E[D(x)] - E[D(x_hat)]
    assert loss.item() == pytest.approx(-7.0 + 10.0 * 16.0)
    torch.testing.assert_close(features, real)
    loss.backward()
    assert critic.weight.grad is not None


def test_bandit_loss_pulls_the_prior_towards_the_classifier_and_entropy_resists():
    logits = torch.zeros(3, requires_grad=True)
    target = torch.tensor([0.8, 0.1, 0.1])
    (grad,) = torch.autograd.grad(bandit_loss(logits, target, 0.0), logits)
    assert grad[0] < 0 < grad[1]  # gradient descent raises cluster 0
    # at the uniform prior the entropy term has zero gradient
    (grad,) = torch.autograd.grad(bandit_loss(logits, torch.full((3,), 1 / 3), 5.0), logits)
    torch.testing.assert_close(grad, torch.zeros(3))
    # away from uniform, a large entropy weight pushes back towards it
    skewed = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    (grad,) = torch.autograd.grad(bandit_loss(skewed, target, 100.0), skewed)
    assert grad[0] > 0
    value = bandit_loss(torch.zeros(3), target, 2.0)
    assert value.item() == pytest.approx(math.log(3) - 2.0 * math.log(3))


def test_entropy_weight_schedules():
    thesis = TrainingConfig(entropy_weight=1000.0, entropy_decay=0.999)
    assert entropy_weight_at(0, thesis, 100) == 1000.0
    assert entropy_weight_at(7000, thesis, 100) == pytest.approx(1000 * 0.999**7000)
    auto = TrainingConfig(entropy_weight=1000.0, entropy_decay="auto")
    # "auto" reaches 1 half way through the planned steps, whatever their number
    for total in (50, 5000):
        assert entropy_weight_at(0, auto, total) == 1000.0
        assert entropy_weight_at(total // 2, auto, total) == pytest.approx(1.0)
        assert entropy_weight_at(total, auto, total) == pytest.approx(1e-3)


def _loop_and_fused_adam(param: torch.Tensor, **kwargs):
    plain = nn.Parameter(param.detach().clone())
    fused = nn.Parameter(param.detach().clone())
    return (plain, torch.optim.Adam([plain], fused=False, **kwargs)), (fused, _adam([fused], **kwargs))


def test_adam_step_is_the_per_parameter_update_for_a_transposed_gradient():
    """torch's fused CPU Adam pairs elements wrongly when a gradient's strides differ from its parameter's."""
    gen = torch.Generator().manual_seed(0)
    (plain, plain_opt), (fused, fused_opt) = _loop_and_fused_adam(
        torch.randn(4, 6, generator=gen), lr=1e-2, betas=(0.9, 0.99), weight_decay=5e-5
    )
    assert fused_opt.defaults["fused"]
    for _ in range(3):
        grad = torch.randn(6, 4, generator=gen).t()  # as autograd returns a linear layer's weight gradient
        plain.grad = grad.clone()
        plain_opt.step()
        _step(fused_opt, [fused], [grad])
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-7)


def test_adam_step_marks_parameters_as_changed_for_the_subpixel_cache():
    nets = build_networks(NetworkSpec((1, 8, 8), n_generators=1, latent_dim=3, base_channels=2), seed=0)
    generator = nets.generators[0]
    optimizer = _adam(generator.parameters(), lr=0.1, betas=(0.5, 0.5))
    z = torch.rand(4, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = generator(z)  # fills the cache
    params = list(generator.parameters())
    _step(optimizer, params, [torch.ones_like(p) for p in params])
    with torch.no_grad():
        after = generator(z)
        assert not torch.allclose(after, before)
        torch.testing.assert_close(after, generator.reference_forward(z), rtol=1e-5, atol=1e-6)


def test_loaded_adam_state_takes_its_parameters_layout():
    gen = torch.Generator().manual_seed(0)
    (plain, plain_opt), (fused, fused_opt) = _loop_and_fused_adam(
        torch.randn(4, 6, generator=gen), lr=1e-2, betas=(0.5, 0.5)
    )
    grads = [torch.randn(4, 6, generator=gen) for _ in range(2)]
    plain.grad = grads[0].clone()
    plain_opt.step()
    state = copy.deepcopy(plain_opt.state_dict())
    for key in ("exp_avg", "exp_avg_sq"):  # as saved from a parameter of another layout
        state["state"][0][key] = state["state"][0][key].t().contiguous().t()
    with torch.no_grad():
        fused.copy_(plain)
    _load_optimizer_state(fused_opt, state)
    fused_opt.param_groups[0]["fused"] = True  # the saved groups came from the per-parameter loop
    plain.grad = grads[1].clone()
    plain_opt.step()
    _step(fused_opt, [fused], [grads[1]])
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-7)
