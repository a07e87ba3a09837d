"""Epoch hooks: the loop calls them, history is written once per epoch, early stopping on held-out rows."""

import math

import numpy as np
import pytest

from danogan_sk import DAnoGANDetector
from danogan_sk import hooks as hooks_module
from danogan_sk.hooks import EpochHook, should_stop
from danogan_sk.nn import NetworkSpec
from danogan_sk.training import TrainingConfig, fit_networks

SPEC = NetworkSpec((3,), n_generators=2, latent_dim=2, base_channels=2)


def _data(n=64):
    return np.random.default_rng(0).uniform(-1, 1, (n, 3)).astype(np.float32)


class Recorder(EpochHook):
    def __init__(self):
        self.events = []

    def on_phase_start(self, run, phase, total):
        self.events.append(("start", phase, total))

    def on_epoch_end(self, run, phase, epoch, record):
        self.events.append(("epoch", phase, epoch, sorted(record)))

    def on_phase_end(self, run, phase):
        self.events.append(("end", phase))

    def on_train_end(self, run):
        self.events.append(("train end",))


def test_the_loop_calls_every_hook_around_every_epoch_of_both_phases():
    recorder = Recorder()
    config = TrainingConfig(n_epochs=2, xzx_epochs=1, batch_size=16)
    result = fit_networks(_data(), SPEC, config, seed=0, hooks=[recorder])
    kinds = [event[:3] if event[0] == "epoch" else event for event in recorder.events]
    assert kinds == [
        ("start", "phase 1", 2),
        ("epoch", "phase 1", 0),
        ("epoch", "phase 1", 1),
        ("end", "phase 1"),
        ("start", "xzx", 1),
        ("epoch", "xzx", 0),
        ("end", "xzx"),
        ("train end",),
    ]
    assert "critic_loss" in recorder.events[1][3] and recorder.events[5][3] == ["xzx_loss"]
    # one entry per epoch for every per-epoch name
    for name in ("critic_loss", "bandit_loss", "reconstruction_error", "entropy_weight"):
        assert result.history[name].shape == (2,)
    assert result.history["bandit_probabilities"].shape == (2, 2)
    assert result.history["xzx_loss"].shape == (1,)
    assert result.history["reconstruction_error_before_xzx"].shape == (1,)
    assert result.history["reconstruction_error_after_xzx"].shape == (1,)


def test_should_stop_reads_the_last_epochs_against_the_best_before():
    assert not should_stop([], 2)
    assert not should_stop([3.0, 2.0], 2)  # nothing before the window yet
    assert should_stop([3.0, 2.0, 2.0, 2.5], 2)  # equal is no improvement
    assert not should_stop([3.0, 2.0, 2.5, 1.5], 2)


def test_early_stopping_ends_each_phase_when_the_held_out_error_stops_falling(monkeypatch):
    errors = iter([3.0, 2.0, 2.5, 2.6] + [2.7, 2.8, 2.9, 0.5])
    monkeypatch.setattr(
        hooks_module.EarlyStopping,
        "on_epoch_end",
        lambda self, run, phase, epoch, record: record.__setitem__(self.NAMES[phase], next(errors)),
    )
    config = TrainingConfig(n_epochs=6, xzx_epochs=4, batch_size=16, validation_fraction=0.25,
                            n_iter_no_change=2)
    history = fit_networks(_data(), SPEC, config, seed=0).history
    # phase 1: 2.5 and 2.6 do not beat 2.0, so it ends after 4 of 6 epochs
    np.testing.assert_array_equal(history["validation_reconstruction_error"], [3.0, 2.0, 2.5, 2.6])
    assert history["critic_loss"].shape == (4,)
    np.testing.assert_array_equal(history["xzx_validation_reconstruction_error"], [2.7, 2.8, 2.9])
    assert history["xzx_loss"].shape == (3,)


def test_detector_with_a_validation_split_measures_held_out_rows():
    X = np.random.default_rng(1).normal(size=(80, 3))
    det = DAnoGANDetector(n_generators=2, n_epochs=3, xzx_epochs=1, validation_fraction=0.25,
                          n_iter_no_change=5, random_state=0).fit(X)
    errors = det.history_["validation_reconstruction_error"]
    assert errors.shape == (3,) and all(math.isfinite(e) for e in errors)
    assert det.history_["xzx_validation_reconstruction_error"].shape == (1,)
    # the held-out rows do not train: the split changes the model
    plain = DAnoGANDetector(n_generators=2, n_epochs=3, xzx_epochs=1, random_state=0).fit(X)
    assert not np.allclose(plain.score_samples(X[:5]), det.score_samples(X[:5]))


def test_a_validation_split_too_large_for_the_data_is_refused():
    with pytest.raises(ValueError, match="validation_fraction=0.99"):
        fit_networks(_data(16), SPEC, TrainingConfig(n_epochs=1, validation_fraction=0.99), seed=0)
