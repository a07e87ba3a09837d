"""The entropy schedule against its formula; the optimizer's rules in training; the averaged critic."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from danogan_sk.hooks import EpochHook
from danogan_sk.nn import NetworkSpec, build_networks
from danogan_sk.optim import Adam
from danogan_sk.training import TrainingConfig, entropy_weight_at, fit_networks


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


def _loop_and_fusedAdam(param: torch.Tensor, **kwargs):
    plain = nn.Parameter(param.detach().clone())
    fused = nn.Parameter(param.detach().clone())
    return (plain, torch.optim.Adam([plain], fused=False, **kwargs)), (fused, Adam([fused], **kwargs))


def test_adam_step_is_the_per_parameter_update_for_a_transposed_gradient():
    """torch's fused CPU Adam pairs elements wrongly when a gradient's strides differ from its parameter's."""
    gen = torch.Generator().manual_seed(0)
    (plain, plain_opt), (fused, fused_opt) = _loop_and_fusedAdam(
        torch.randn(4, 6, generator=gen), lr=1e-2, betas=(0.9, 0.99), weight_decay=5e-5
    )
    assert fused_opt.defaults["fused"]
    for _ in range(3):
        grad = torch.randn(6, 4, generator=gen).t()  # as autograd returns a linear layer's weight gradient
        plain.grad = grad.clone()
        plain_opt.step()
        fused_opt.step_with([fused], [grad])
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-7)


def test_adam_step_marks_parameters_as_changed_for_the_subpixel_cache():
    nets = build_networks(NetworkSpec((1, 8, 8), n_generators=1, latent_dim=3, base_channels=2), seed=0)
    generator = nets.generators[0]
    optimizer = Adam(generator.parameters(), lr=0.1, betas=(0.5, 0.5))
    z = torch.rand(4, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = generator(z)  # fills the cache
    params = list(generator.parameters())
    optimizer.step_with(params, [torch.ones_like(p) for p in params])
    with torch.no_grad():
        after = generator(z)
        assert not torch.allclose(after, before)
        torch.testing.assert_close(after, generator.reference_forward(z), rtol=1e-5, atol=1e-6)


def test_loaded_adam_state_takes_its_parameters_layout():
    gen = torch.Generator().manual_seed(0)
    (plain, plain_opt), (fused, fused_opt) = _loop_and_fusedAdam(
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
    fused_opt.load_state_dict(state)
    fused_opt.param_groups[0]["fused"] = True  # the saved groups came from the per-parameter loop
    plain.grad = grads[1].clone()
    plain_opt.step()
    fused_opt.step_with([fused], [grads[1]])
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-7)


def _generators_match_reference(nets, z: torch.Tensor) -> bool:
    with torch.no_grad():
        return all(
            torch.allclose(g(z), g.reference_forward(z), rtol=1e-5, atol=1e-6) for g in nets.generators
        )


@pytest.mark.parametrize("bypass, shared_trunk", [(False, False), (True, False), (False, True)])
def test_every_optimizer_step_of_training_keeps_the_subpixel_cache_fresh(
    monkeypatch, bypass, shared_trunk
):
    """An epoch of phase 1 leaves generators that compute their reference function.

    With ``bypass``, the optimizers step as torch's plain fused Adam does,
    without the version bump: the cached sub-pixel weights then go stale,
    which shows this check sees a step that skips ``optim.Adam.step``. With
    ``shared_trunk``, each generator caches the weights it shares with the
    others, and every step through any of them must reach every cache.
    """
    from danogan_sk import training
    from danogan_sk.optim import in_layout_of

    if bypass:
        def plain_step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad = in_layout_of(p.grad, p)
            return torch.optim.Adam.step(self, closure)

        monkeypatch.setattr(Adam, "step", plain_step)
    spec = NetworkSpec((1, 8, 8), n_generators=2, latent_dim=3, base_channels=2, max_channels=4,
                       shared_trunk=shared_trunk)
    X = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    run = training._Run(X, spec, TrainingConfig(n_epochs=1, batch_size=8, n_critic=2), seed=0)
    optimizers = [getattr(run.optimizers, name) for name in run.optimizers.NAMES]
    assert all(isinstance(opt, Adam) and opt.defaults["fused"] for opt in optimizers + [run.xzx_optimizer])
    z = torch.rand(4, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert _generators_match_reference(run.nets, z)  # fills the caches
    training._phase1_epoch(run, X, check_each_step=True)
    assert _generators_match_reference(run.nets, z) is not bypass


class _PhaseOneWeights(EpochHook):
    """A network's weights at the end of every phase-1 epoch."""

    def __init__(self, network: str) -> None:
        self.network = network
        self.epochs: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        if phase == "phase 1":
            module = getattr(run.nets, self.network)
            self.epochs.append({k: v.detach().clone() for k, v in module.state_dict().items()})


#: Each averaged network and the setting that sizes its window.
_AVERAGED = [("critic", "critic_average_epochs"), ("generators", "generator_average_epochs")]


def _tiny_fit(hooks=(), **config):
    """A fit on 64 rows in 4 batches an epoch: 6 phase-1 epochs alone, or ``config`` on top."""
    X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    config = TrainingConfig(**{"n_epochs": 6, "xzx_epochs": 0, "batch_size": 16, "n_critic": 2, **config})
    return fit_networks(X, NetworkSpec((5,), 2, 2, base_channels=4), config, seed=0, hooks=hooks)


def _fit_recording(network: str, **averaging):
    """A 4 + 1-epoch fit with no averaging but ``averaging``, and ``network``'s weights per epoch."""
    weights = _PhaseOneWeights(network)
    result = _tiny_fit([weights], n_epochs=4, xzx_epochs=1, **{"critic_average_epochs": 1, **averaging})
    return result.state_dict, weights.epochs


@pytest.mark.parametrize("network, setting", _AVERAGED)
@pytest.mark.parametrize("window", [1, 3, 10])
def test_the_fitted_network_is_the_mean_of_its_last_epochs(network, setting, window):
    state, epochs = _fit_recording(network, **{setting: window})
    averaged = epochs[-window:]  # all four epochs when ten are asked for
    for name in epochs[0]:
        expected = torch.stack([weights[name] for weights in averaged]).mean(0)
        torch.testing.assert_close(state[f"{network}.{name}"], expected, rtol=0, atol=1e-7, msg=name)
    if window > 1:  # the mean is not the last epoch's weights
        assert any(not torch.allclose(state[f"{network}.{name}"], epochs[-1][name]) for name in epochs[-1])


@pytest.mark.parametrize("network, setting", _AVERAGED)
def test_averaging_a_network_leaves_the_training_of_the_others_unchanged(network, setting):
    last, _ = _fit_recording(network)
    averaged, _ = _fit_recording(network, **{setting: 3})
    # xzx trains the encoders through the generators, so averaged generators change them
    others = {"critic", "generators", "classifier", "bandit"} - {network}
    assert any(name.startswith("encoders.") for name in last)
    for name, tensor in last.items():
        if name.split(".")[0] in others:
            torch.testing.assert_close(averaged[name], tensor, rtol=0, atol=0, msg=name)


def test_reconstruction_gradients_are_those_of_the_weighted_error_through_the_routed_pair():
    from danogan_sk.training import _EpochLog, _reconstruction_gradients

    nets = build_networks(NetworkSpec((6,), n_generators=3, latent_dim=2, base_channels=4), seed=0)
    real = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    features = nets.critic.features(real).detach()
    nets.classifier.eval()
    cluster = nets.classifier(features).argmax(dim=1)
    nets.classifier.train()
    gen_params, enc_params = list(nets.generators.parameters()), list(nets.encoders.parameters())

    # By hand: each row through its own cluster's encoder and generator.
    rows = [nets.generators[k](nets.encoders[k](x[None]))[0] for x, k in zip(real, cluster.tolist())]
    error = (torch.stack(rows) - real).pow(2).mean()
    expected = torch.autograd.grad(2.5 * error, gen_params + enc_params, allow_unused=True)

    log = _EpochLog()
    grads_g, grads_e = _reconstruction_gradients(nets, real, features, 2.5, gen_params, enc_params, log)
    for got, want in zip([*grads_g, *grads_e], expected):
        assert (got is None) == (want is None)
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert log.means()["reconstruction_loss"] == pytest.approx(error.item(), rel=1e-5)
    # A pair no row was routed to gets no gradient.
    unused = set(range(3)) - set(cluster.tolist())
    for k in unused:
        assert all(g is None for g, p in zip(grads_e, enc_params)
                   if any(p is q for q in nets.encoders[k].parameters()))


def test_reconstruction_weight_zero_trains_as_the_thesis_and_a_weight_teaches_reconstruction():
    plain = _tiny_fit(reconstruction_weight=0.0)
    default = _tiny_fit()
    for name, tensor in default.state_dict.items():
        torch.testing.assert_close(plain.state_dict[name], tensor, rtol=0, atol=0, msg=name)
    assert "reconstruction_loss" not in plain.history

    taught = _tiny_fit(reconstruction_weight=5.0)
    assert len(taught.history["reconstruction_loss"]) == 6
    # Phase 1 alone (no xzx) now lowers the monitored training rows' reconstruction error.
    assert taught.history["reconstruction_error"][-1] < plain.history["reconstruction_error"][-1]


def test_reconstruction_loss_has_an_entry_per_epoch_nan_where_no_generator_step_fell():
    # 4 batches an epoch and a generator step every 8: every other epoch has none.
    history = _tiny_fit(n_epochs=4, n_critic=8, reconstruction_weight=1.0).history
    losses = np.asarray(history["reconstruction_loss"])
    np.testing.assert_array_equal(np.isnan(losses), [False, True, False, True])
    np.testing.assert_array_equal(np.isnan(losses), np.isnan(np.asarray(history["generator_loss"])))


def test_an_averaged_weight_is_the_mean_and_a_counter_keeps_its_last_value():
    from danogan_sk.training import _mean_weight

    floats = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])]
    torch.testing.assert_close(_mean_weight(floats), torch.tensor([2.0, 4.0]))
    # an integer buffer (BatchNorm's num_batches_tracked) has no mean
    assert _mean_weight([torch.tensor(4), torch.tensor(7)]).item() == 7
