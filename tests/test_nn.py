"""The networks: shapes from the image size, routing, deterministic initialisation."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from danogan_sk.nn import (
    ROUTING_STRATEGIES,
    NetworkSpec,
    _RowGather,
    build_networks,
    contiguous_state,
    n_stages,
    route,
    to_fast_layout,
)


@pytest.mark.parametrize(
    "shape",
    [(1, 28, 28), (1, 32, 32), (3, 32, 32), (1, 64, 64), (3, 20, 30), (1, 8, 8), (1, 256, 256)],
)
def test_networks_are_sized_from_the_image_shape(shape):
    spec = NetworkSpec(shape, n_generators=3, latent_dim=5, base_channels=4, max_channels=16)
    nets = build_networks(spec, seed=0)
    x = torch.rand(4, *shape) * 2 - 1
    rec = nets.reconstruct(x)
    assert rec.reconstruction.shape == x.shape
    assert rec.latent.shape == (4, 5)
    assert rec.logits.shape == (4, 3)
    assert rec.reconstruction.abs().max() <= 1  # tanh output
    assert rec.latent.abs().max() <= 1
    value, features = nets.critic(x)
    assert value.shape == (4,)
    # D_i is the map before the critic's last stride-2 stage
    assert features.shape[-1] == -(-shape[-1] // 2 ** (n_stages(*shape[1:]) - 1))


@settings(max_examples=40, deadline=None)
@given(height=st.integers(4, 300), width=st.integers(4, 300))
def test_every_image_size_gets_working_networks(height, width):
    # Tiny channels: the shapes, not the cost, are under test.
    spec = NetworkSpec((1, height, width), n_generators=1, latent_dim=2, base_channels=1, max_channels=2)
    nets = build_networks(spec, seed=0)
    x = torch.rand(2, 1, height, width) * 2 - 1
    rec = nets.reconstruct(x)
    assert rec.reconstruction.shape == x.shape
    assert rec.latent.shape == (2, 2) and torch.isfinite(rec.latent).all()
    assert torch.isfinite(rec.logits).all()
    assert nets.critic.input_gradient(x).shape == x.shape
    assert all(p.numel() > 0 for p in nets.parameters())


def test_feature_vectors_get_fully_connected_networks():
    nets = build_networks(NetworkSpec((7,), n_generators=2, latent_dim=3), seed=0)
    assert not any(isinstance(m, nn.Conv2d) for m in nets.modules())
    rec = nets.reconstruct(torch.zeros(5, 7))
    assert rec.reconstruction.shape == (5, 7)


def test_n_stages_follows_the_image_side():
    assert [n_stages(s, s) for s in (8, 16, 28, 32, 33, 64, 256)] == [2, 2, 3, 3, 4, 4, 6]
    assert n_stages(20, 30) == 3


def test_route_matches_a_row_by_row_loop_and_keeps_gradients():
    gen = torch.Generator().manual_seed(0)
    networks = [nn.Linear(3, 2) for _ in range(4)]
    x = torch.randn(10, 3, generator=gen, requires_grad=True)
    index = torch.tensor([3, 0, 3, 1, 1, 3, 0, 3, 1, 0])  # cluster 2 is empty
    out = route(networks, x, index)
    expected = torch.stack([networks[int(k)](row) for row, k in zip(x, index)])
    torch.testing.assert_close(out, expected)
    (grad_routed,) = torch.autograd.grad(out.square().sum(), x)
    (grad_loop,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(grad_routed, grad_loop)
    assert networks[2].weight.grad is None


@pytest.mark.parametrize("strategy", ROUTING_STRATEGIES)
def test_a_single_network_takes_the_whole_batch_under_either_strategy(strategy):
    gen = torch.Generator().manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))  # batch statistics: one call, all rows
    x = torch.randn(6, 3, generator=gen)
    torch.testing.assert_close(route([network], x, torch.zeros(6, dtype=torch.long), strategy), network(x),
                               rtol=0, atol=0)
    nets = build_networks(NetworkSpec((1, 8, 8), 1, 4, base_channels=4), seed=0)
    nets.routing = strategy
    assert nets.routed_bytes_per_row("cpu") == 0


def test_build_networks_is_deterministic_and_leaves_global_rng_alone():
    spec = NetworkSpec((1, 28, 28), n_generators=2, latent_dim=4, base_channels=4)
    state = torch.get_rng_state()
    a, b = build_networks(spec, seed=1), build_networks(spec, seed=1)
    c = build_networks(spec, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    pairs = list(zip(a.state_dict().values(), b.state_dict().values()))
    assert all(torch.equal(p, q) for p, q in pairs)
    assert not torch.equal(a.critic.out.weight, c.critic.out.weight)
    # generators start different from each other, so they can specialise
    assert not torch.equal(a.generators[0].dense.weight, a.generators[1].dense.weight)
    torch.testing.assert_close(a.prior(), torch.full((2,), 0.5))


def test_fast_layout_keeps_the_function_and_the_saved_state_is_contiguous():
    spec = NetworkSpec((3, 16, 12), n_generators=2, latent_dim=4, base_channels=4, max_channels=8)
    plain = build_networks(spec, seed=0).eval()
    fast = to_fast_layout(build_networks(spec, seed=0), "cpu").eval()
    assert fast.critic.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not fast.critic.body[0].weight.is_contiguous()
    assert fast.generators[0].convs[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(5, 3, 16, 12) * 2 - 1
    torch.testing.assert_close(fast.reconstruct(x).reconstruction, plain.reconstruct(x).reconstruction)
    state = contiguous_state(fast)
    assert all(tensor.is_contiguous() for tensor in state.values())
    for name, tensor in plain.state_dict().items():
        assert torch.equal(state[name], tensor), name
    # a copy: changing it leaves the networks alone
    state["critic.body.0.weight"].zero_()
    assert fast.critic.body[0].weight.abs().sum() > 0


def _trunk_parameters(network: nn.Module) -> list[torch.Tensor]:
    """The parameters of the layers ``network``'s class names as its trunk."""
    return [p for name in type(network).trunk for p in network.get_submodule(name).parameters()]


@pytest.mark.parametrize("shape", [(1, 16, 16), (6,)])
def test_a_shared_trunk_shares_every_layer_but_the_latent_side_one(shape):
    own = build_networks(NetworkSpec(shape, n_generators=3, latent_dim=4, base_channels=4), seed=0)
    shared = build_networks(NetworkSpec(shape, 3, 4, base_channels=4, shared_trunk=True), seed=0)
    for group in ("generators", "encoders"):
        separate, tied = getattr(own, group), getattr(shared, group)
        one = sum(p.numel() for p in separate[0].parameters())
        trunk = sum(p.numel() for p in _trunk_parameters(tied[0]))
        assert 0 < trunk < one
        assert sum(p.numel() for p in separate.parameters()) == 3 * one
        assert sum(p.numel() for p in tied.parameters()) == 3 * (one - trunk) + trunk
        # the state dict keeps every network's names, so a saved state loads either way
        assert set(own.state_dict()) == set(shared.state_dict())

    # Rows routed to generator 0 alone train the trunk generator 2 uses, not its input layer.
    z = torch.rand(5, 4, generator=torch.Generator().manual_seed(1))
    shared.generate(z, torch.zeros(5, dtype=torch.long)).square().sum().backward()
    head = shared.generators[2].get_submodule("dense" if len(shape) == 3 else "net.0")
    trunk_params = _trunk_parameters(shared.generators[2])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trunk_params)
    assert all(p.grad is None for p in head.parameters())


def test_a_shared_trunk_routes_alike_both_ways_and_stays_shared_when_loaded():
    from danogan_sk.persistence import load_networks

    spec = NetworkSpec((1, 8, 8), n_generators=3, latent_dim=4, base_channels=4, shared_trunk=True)
    nets = to_fast_layout(build_networks(spec, seed=0), "cpu")
    z = torch.rand(7, 4, generator=torch.Generator().manual_seed(2))
    cluster = torch.tensor([2, 0, 2, 1, 0, 2, 1])
    outputs = {}
    for strategy in ROUTING_STRATEGIES:
        nets.zero_grad()
        out = route(nets.generators, z, cluster, strategy)
        out.square().sum().backward()
        outputs[strategy] = out.detach(), nets.generators[0].convs[0].weight.grad.clone()
    torch.testing.assert_close(*[o[0] for o in outputs.values()])
    torch.testing.assert_close(*[o[1] for o in outputs.values()])

    loaded = load_networks(spec, contiguous_state(nets), torch.device("cpu"))
    assert loaded.generators[0].convs is loaded.generators[1].convs
    assert loaded.encoders[0].features is loaded.encoders[2].features
    with torch.no_grad():
        torch.testing.assert_close(loaded.generate(z, cluster), nets.eval().generate(z, cluster))


def test_stacked_routing_sums_each_networks_row_gradients_as_index_select_does():
    # The stacked strategy's gather adds the rows' gradients in a matrix product (a fixed order,
    # so CUDA fits repeat); its gradients and their gradients are index_select's.
    gen = torch.Generator().manual_seed(0)
    stacked = torch.randn(3, 4, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    index = torch.tensor([2, 0, 2, 2, 1, 0])
    gather = lambda values: _RowGather.apply(values, index)  # noqa: E731
    assert torch.autograd.gradcheck(gather, (stacked,))
    assert torch.autograd.gradgradcheck(gather, (stacked,))
    weights = torch.randn(6, 4, 2, dtype=torch.float64, generator=gen)
    (ours,) = torch.autograd.grad((gather(stacked) * weights).sum(), stacked)
    (theirs,) = torch.autograd.grad((stacked.index_select(0, index) * weights).sum(), stacked)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours[1], weights[4], rtol=0, atol=0)  # one row: its gradient as it is
