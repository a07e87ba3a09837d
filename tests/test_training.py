"""The losses of phase 1 and the entropy schedule, against their formulas."""

import math

import pytest
import torch
from torch import nn

from danogan_sk.training import (
    TrainingConfig,
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
