"""The fast paths compute what the plain formulations compute (float64, tiny networks).

* the sub-pixel generator equals nearest upsample + 5x5 convolution;
* the critic's explicit input gradient equals autograd's double backward;
* every routing strategy gives the same outputs and gradients;
* a whole training cycle of the library ends in the same weights, with the
  same losses, as the thesis's loop (``benchmarks/yardstick.py``);
* the accelerator routing strategy reads nothing back to the host in a
  training step or while scoring.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from danogan_sk import nn as nn_module
from danogan_sk.nn import ROUTING_STRATEGIES, NetworkSpec, build_networks, route, to_fast_layout
from danogan_sk.memory_bank import MemoryBank, feature_vectors
from danogan_sk.scoring import neighbor_offsets, score_components
from danogan_sk.training import TrainingConfig, _EpochLog, _Optimizers, _phase1_steps

# 28x28 crops on even offsets (sub-pixel last stage); 8x6 on an odd one (plain last stage).
SHAPES = [(1, 28, 28), (2, 8, 6), (1, 8, 8)]


def _yardstick():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "yardstick.py"
    spec = importlib.util.spec_from_file_location("yardstick", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nets(shape, n_generators=3, seed=0):
    spec = NetworkSpec(shape, n_generators=n_generators, latent_dim=4, base_channels=2, max_channels=8)
    return build_networks(spec, seed).double()


def _grads(output, params):
    grads = torch.autograd.grad(output.square().sum(), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@pytest.mark.parametrize("shape", SHAPES)
def test_subpixel_generator_equals_upsample_and_conv(shape):
    generator = _nets(shape).generators[0]
    z = torch.rand(5, 4, dtype=torch.float64) * 2 - 1
    params = list(generator.parameters())
    fast, plain = generator(z), generator.reference_forward(z)
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-12)
    for a, b in zip(_grads(fast, params), _grads(plain, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_cached_subpixel_weights_follow_in_place_updates():
    generator = _nets((1, 16, 16)).generators[0]
    z = torch.rand(5, 4, dtype=torch.float64)
    with torch.no_grad():
        generator(z)  # fills the cache
        generator.convs[0].weight.mul_(2.0)
        generator.convs[-1].bias.add_(0.5)
        torch.testing.assert_close(generator(z), generator.reference_forward(z))


@pytest.mark.parametrize("fast_layout", [False, True])
def test_generator_update_reuses_cached_subpixel_weights_with_the_builds_gradient(monkeypatch, fast_layout):
    nets = _nets((1, 16, 16))
    if fast_layout:
        nets = to_fast_layout(nets, "cpu")
    generator = nets.generators[0]
    z = torch.rand(5, 4, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        generator(z)  # fills the cache, as the critic-only steps before an update do
    builds = []
    build = nn_module.subpixel_weight
    monkeypatch.setattr(nn_module, "subpixel_weight", lambda weight: builds.append(1) or build(weight))
    params = list(generator.parameters())
    fast = _grads(generator(z), params)
    assert not builds  # the graph-mode forward took the cached weights
    for a, b in zip(fast, _grads(generator.reference_forward(z), params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_subpixel_weight_grad_is_the_builds_autograd_gradient():
    weight = torch.rand(3, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    grad = torch.rand(12, 2, 3, 3, dtype=torch.float64)
    (expected,) = torch.autograd.grad(nn_module.subpixel_weight(weight), weight, grad)
    torch.testing.assert_close(nn_module.subpixel_weight_grad(grad), expected, rtol=1e-12, atol=1e-14)


# (3, 9, 7): odd sides, where the first layer's sub-pixel input gradient is cropped.
@pytest.mark.parametrize("shape", SHAPES[1:] + [(3, 9, 7), (7,)])
def test_explicit_input_gradient_equals_double_backward(shape):
    critic = _nets(shape).critic
    x = (torch.rand(6, *shape, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    value, _ = critic(x)
    (autograd,) = torch.autograd.grad(value.sum(), x, create_graph=True)
    explicit = critic.input_gradient(x.detach())
    torch.testing.assert_close(explicit, autograd, rtol=1e-12, atol=1e-14)
    params = list(critic.parameters())
    for a, b in zip(_grads(explicit, params), _grads(autograd, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 8, 6), (7,)])
def test_routing_strategies_agree(shape):
    nets = _nets(shape, n_generators=4)
    index = torch.tensor([3, 0, 3, 1, 1, 3, 0, 3, 1])  # cluster 2 is empty
    z = (torch.rand(9, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    x = (torch.rand(9, *shape, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    outputs = {}
    for strategy in ROUTING_STRATEGIES:
        images = route(nets.generators, z, index, strategy)
        latent = route(nets.encoders, x, index, strategy)
        params = [z, x, *nets.generators.parameters(), *nets.encoders.parameters()]
        outputs[strategy] = [images, latent, *_grads(images.sum() + latent.square().sum(), params)]
    for a, b in zip(outputs["loop"], outputs["stacked"]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_unknown_routing_strategy_is_rejected():
    nets = _nets((7,))
    with pytest.raises(ValueError, match="routing strategy"):
        route(nets.generators, torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.long), "gpu")


def _library_steps(nets, runs, config, seed):
    """The library's phase-1 steps over ``runs``: lists of batches, each starting with an update."""
    generator = torch.Generator().manual_seed(seed)
    opt, log = _Optimizers(nets, config), _EpochLog()
    for update_first, batches in runs:
        _phase1_steps(nets, opt, batches, config, generator, update_first, 5.0, log)
    return log.means()


def _yardstick_cycle(nets, batches, config, seed):
    trainer = _yardstick().ThesisTrainer(
        nets, config, torch.Generator().manual_seed(seed), bandit_on_updated_critic=False
    )
    losses = []
    for step, real in enumerate(batches):
        trainer.step(real, step % config.n_critic == 0, 5.0)
        losses.append(float(trainer.loss_d.detach()))
    return trainer, losses


@pytest.mark.parametrize("fast_layout", [False, True])
@pytest.mark.parametrize("shape", [(1, 8, 8), (5,)])
def test_training_cycle_matches_the_thesis_loop(shape, fast_layout):
    """Two cycles: the second update sees weights both implementations changed.

    With ``n_critic=3`` the critic-only steps of the first cycle are cut as
    an epoch boundary cuts them (one run of one step, then one more) and
    those of the second run together, with their fakes generated in one call.
    """
    config = TrainingConfig(batch_size=8, n_critic=3)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.rand(8, *shape, generator=gen, dtype=torch.float64) * 2 - 1 for _ in range(6)]
    runs = [(True, batches[:2]), (False, batches[2:3]), (True, batches[3:])]
    results = {}
    for strategy in ROUTING_STRATEGIES:
        nets = _nets(shape, n_generators=3)
        if fast_layout:
            nets = to_fast_layout(nets, "cpu")
        nets.train()
        nets.routing = strategy
        means = _library_steps(nets, runs, config, seed=2)
        results[strategy] = (nets.state_dict(), means)
    thesis_nets = _nets(shape, n_generators=3)
    thesis_nets.train()
    trainer, critic_losses = _yardstick_cycle(thesis_nets, batches, config, seed=2)
    expected = thesis_nets.state_dict()
    for state, means in results.values():
        assert means["critic_loss"] == pytest.approx(sum(critic_losses) / len(critic_losses), rel=1e-10)
        for name, tensor in expected.items():
            # atol: a bias followed by BatchNorm has a zero gradient up to
            # rounding, which Adam's normalisation turns into ~1e-11 steps.
            torch.testing.assert_close(state[name], tensor, rtol=1e-9, atol=1e-9, msg=name)
    # the run trained something: the bandit and every part moved
    initial = _nets(shape, n_generators=3).state_dict()
    assert not torch.equal(initial["bandit_logits"], expected["bandit_logits"])
    moved = [name for name in expected if not torch.equal(initial[name], expected[name])]
    for part in ("generators.", "encoders.", "critic.", "classifier."):
        assert any(name.startswith(part) for name in moved), part


class _HostReads(TorchDispatchMode):
    """Records the operations that make a CUDA device wait for the host to read a result.

    ``_local_scalar_dense`` is behind ``item()``, ``bool()``, ``int()`` and
    ``float()`` of a tensor; the others need their output's size, which
    only the device knows. ``tolist()`` and ``numpy()`` are recorded by
    patching, as they do not dispatch on a CPU tensor.
    """

    SYNCING = {"_local_scalar_dense", "nonzero", "bincount", "unique", "_unique2", "masked_select", "repeat_interleave"}

    def __init__(self, monkeypatch) -> None:
        super().__init__()
        self.reads: list[str] = []
        for name in ("tolist", "numpy"):
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._recording(name, original))

    def _recording(self, name, original):
        def method(tensor, *args, **kwargs):
            self.reads.append(name)
            return original(tensor, *args, **kwargs)

        return method

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        boolean_index = name == "index" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or [])
        )
        if name in self.SYNCING or boolean_index:
            self.reads.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("shape", [(1, 8, 8), (5,)])
def test_stacked_routing_reads_nothing_back_to_the_host(shape, monkeypatch):
    """The accelerator strategy: training steps and scoring never wait for the host.

    The same check sees the loop strategy's reads (its block sizes), so it
    can fail.
    """
    config = TrainingConfig(batch_size=8, n_critic=3)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.rand(8, *shape, generator=gen, dtype=torch.float64) * 2 - 1 for _ in range(3)]
    reads = {}
    for strategy in ROUTING_STRATEGIES:
        nets = to_fast_layout(_nets(shape, n_generators=3), "cpu")
        nets.train()
        nets.routing = strategy
        opt, log = _Optimizers(nets, config), _EpochLog()
        step_generator = torch.Generator().manual_seed(2)
        with monkeypatch.context() as patch, _HostReads(patch) as recorder:
            _phase1_steps(nets, opt, batches, config, step_generator, True, 5.0, log)
            nets.eval()
            with torch.no_grad():
                score_components(nets, batches[0])
                # With a memory bank holding some of the queries, and moved queries for images.
                vectors = feature_vectors(nets.critic.features(torch.cat(batches[:2])), None, "euclidean")
                bank = MemoryBank(vectors, 1, "euclidean", None, neighbor_offsets(1) if len(shape) == 3 else ())
                score_components(nets, batches[0], bank)
        reads[strategy] = recorder.reads
    assert reads["stacked"] == []
    assert "tolist" in reads["loop"] and "bincount" in reads["loop"]
