"""Each loss of danogan_sk.losses against values worked out by hand on fixed small tensors."""

import math

import pytest
import torch
from torch import nn

from danogan_sk.losses import (
    bandit_loss,
    classifier_loss,
    critic_loss,
    encoder_loss,
    generator_loss,
    gradient_penalty,
    xzx_loss,
)


class LinearCritic(nn.Module):
    """D(x) = w . x, with D_i = x: its input gradient is w everywhere."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight, x


class LinearCriticWithInputGradient(LinearCritic):
    def input_gradient(self, x):
        return self.weight.expand_as(x)


def test_classifier_loss_is_the_mean_cross_entropy_of_the_generator_index():
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    # -log(3/4) for the first fake (of generator 0), -log(1/2) for the second
    expected = (math.log(4 / 3) + math.log(2)) / 2
    assert classifier_loss(logits, torch.tensor([0, 1])).item() == pytest.approx(expected)


def test_generator_loss_is_minus_the_critic_plus_weighted_classification():
    values = torch.tensor([1.0, 3.0])
    assert generator_loss(values, torch.tensor(0.5), 2.0).item() == pytest.approx(-2.0 + 1.0)
    assert generator_loss(values, torch.tensor(0.5), 0.0).item() == pytest.approx(-2.0)


def test_encoder_and_xzx_losses_are_mean_squared_errors():
    assert encoder_loss(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)).item() == pytest.approx(2.5)
    real = torch.zeros(2, 1, 2, 2)
    reconstruction = torch.full((2, 1, 2, 2), 0.5)
    reconstruction[0, 0, 0, 0] = 2.5
    # seven errors of 0.5^2 and one of 2.5^2, over eight values
    assert xzx_loss(reconstruction, real).item() == pytest.approx((7 * 0.25 + 6.25) / 8)


def test_bandit_loss_by_hand():
    # p uniform over two clusters, q = (1, 0): CE = log 2, H = log 2
    value = bandit_loss(torch.zeros(2), torch.tensor([1.0, 0.0]), 3.0)
    assert value.item() == pytest.approx(math.log(2) - 3.0 * math.log(2))


def test_critic_loss_by_hand_with_both_penalty_paths():
    real = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    fake = torch.zeros(2, 2, dtype=torch.float64)
    eps = torch.tensor([[0.25], [0.75]], dtype=torch.float64)
    for critic in (LinearCritic([3.0, 4.0]), LinearCriticWithInputGradient([3.0, 4.0])):
        loss, wasserstein, penalty, features = critic_loss(critic, real, fake, 2.0, eps=eps)
        # E[D(x)] = (3 + 4) / 2; E[D(x_hat)] = 0; ||w|| = 5, so GP = (5 - 1)^2
        assert wasserstein.item() == pytest.approx(3.5)
        assert penalty.item() == pytest.approx(16.0)
        assert loss.item() == pytest.approx(-3.5 + 2.0 * 16.0)
        torch.testing.assert_close(features, real)


def test_gradient_penalty_ignores_gradients_flatter_than_one():
    real, fake = torch.ones(3, 2, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float64)
    eps = torch.full((3, 1), 0.5, dtype=torch.float64)
    assert gradient_penalty(LinearCritic([0.6, 0.8]), real, fake, eps=eps).item() == 0.0
    assert gradient_penalty(LinearCritic([1.2, 1.6]), real, fake, eps=eps).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="random generator"):
        gradient_penalty(LinearCritic([1.0, 0.0]), real, fake)


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
