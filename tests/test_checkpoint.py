"""Checkpoints, resume after an interruption, and divergence detection."""

import numpy as np
import pytest
import torch

import danogan_sk.training as training
from danogan_sk import DAnoGANDetector
from danogan_sk.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

PARAMS = dict(
    n_generators=2, latent_dim=2, n_epochs=3, xzx_epochs=2, batch_size=16, n_critic=2,
    base_channels=4, random_state=0,
)


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(64, 5))


@pytest.fixture(scope="module")
def uninterrupted(data):
    return DAnoGANDetector(**PARAMS).fit(data)


def _interrupt_at(monkeypatch, function_name, call):
    """Make ``training.<function_name>`` raise KeyboardInterrupt on its ``call``-th call."""
    original = getattr(training, function_name)
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, function_name, interrupted)


@pytest.mark.parametrize("function_name, call", [("_phase1_epoch", 2), ("_xzx_epoch", 2)])
def test_resume_after_an_interruption_reaches_the_uninterrupted_result(
    data, uninterrupted, tmp_path, monkeypatch, function_name, call
):
    _assert_resumes(PARAMS, uninterrupted, data, tmp_path, monkeypatch, function_name, call)


@pytest.mark.parametrize("function_name, call", [("_phase1_epoch", 3), ("_xzx_epoch", 2)])
def test_averaged_networks_resume_to_the_uninterrupted_result(data, tmp_path, monkeypatch, function_name, call):
    # The windows of critic and generator weights are part of the checkpoint: a run resumed
    # after its second epoch, or during xzx (after the averaging), averages the same weights.
    params = dict(PARAMS, critic_average_epochs=2, generator_average_epochs=2)
    uninterrupted = DAnoGANDetector(**params).fit(data)
    _assert_resumes(params, uninterrupted, data, tmp_path, monkeypatch, function_name, call)


def _assert_resumes(params, uninterrupted, data, tmp_path, monkeypatch, function_name, call):
    """A fit interrupted at ``call`` of ``training.<function_name>`` and resumed from its
    checkpoint ends with ``uninterrupted``'s weights, scores and history."""
    with monkeypatch.context() as patch:
        _interrupt_at(patch, function_name, call)
        with pytest.raises(KeyboardInterrupt, match="resume"):
            DAnoGANDetector(**params, checkpoint_dir=tmp_path).fit(data)
    state = load_checkpoint(tmp_path / "danogan_checkpoint.pt")  # intact, readable
    finished = state["counters"]["phase1_epoch"] + state["counters"]["xzx_epoch"]
    assert finished == (call - 1 if function_name == "_phase1_epoch" else params["n_epochs"] + call - 1)

    resumed = DAnoGANDetector(**params, checkpoint_dir=tmp_path).fit(data)
    expected = uninterrupted.networks_.state_dict()
    for name, tensor in resumed.networks_.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=0, msg=name)
    np.testing.assert_array_equal(resumed.score_samples(data), uninterrupted.score_samples(data))
    for name, values in uninterrupted.history_.items():
        np.testing.assert_array_equal(resumed.history_[name], values, err_msg=name)


def test_a_truncated_checkpoint_is_detected(data, tmp_path):
    DAnoGANDetector(**{**PARAMS, "n_epochs": 1, "xzx_epochs": 0}, checkpoint_dir=tmp_path).fit(data)
    path = tmp_path / "danogan_checkpoint.pt"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        DAnoGANDetector(**{**PARAMS, "n_epochs": 1, "xzx_epochs": 0}, checkpoint_dir=tmp_path).fit(data)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a danogan_sk checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_of_another_run_is_refused(data, tmp_path):
    DAnoGANDetector(**{**PARAMS, "n_epochs": 1, "xzx_epochs": 0}, checkpoint_dir=tmp_path).fit(data)
    with pytest.raises(CheckpointError, match="another training run"):
        DAnoGANDetector(**{**PARAMS, "n_epochs": 2}, checkpoint_dir=tmp_path).fit(data)
    other = data.copy()
    other[0, 0] += 0.5  # (a shift of all rows would scale to the same network input)
    with pytest.raises(CheckpointError, match="another training run"):
        DAnoGANDetector(**{**PARAMS, "n_epochs": 1, "xzx_epochs": 0}, checkpoint_dir=tmp_path).fit(
            other
        )


def test_an_interrupted_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    save_checkpoint(path, {"epoch": 1})

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left


def _poison_critic_loss(monkeypatch, at_call: int) -> dict:
    """Make the ``at_call``-th critic loss NaN; returns the call counter."""
    original = training.critic_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, *rest = original(*args, **kwargs)
        return (loss * np.nan if calls["n"] == at_call else loss, *rest)

    monkeypatch.setattr(training, "critic_loss", poisoned)
    return calls


def test_a_non_finite_loss_stops_training_at_its_step_with_a_clear_message(data, monkeypatch):
    calls = _poison_critic_loss(monkeypatch, at_call=3)
    with pytest.raises(FloatingPointError, match=r"phase 1, epoch 1: critic_loss = nan at step 3.*lr_critic"):
        DAnoGANDetector(**PARAMS, device="cpu").fit(data)  # the per-step check is the CPU's
    assert calls["n"] == 3  # stopped at once, not at the end of the epoch


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_without_a_per_step_check_a_diverged_epoch_still_ends_with_a_clear_message(data, monkeypatch, device):
    # As on an accelerator: the NaN spreads to the bandit's prior within the epoch, and
    # drawing clusters from it must not stop the process (on CUDA: a device-side assert
    # that leaves the GPU unusable) before the epoch's check names the loss.
    monkeypatch.setattr(training, "_checks_each_step", lambda device: False)
    calls = _poison_critic_loss(monkeypatch, at_call=3)
    with pytest.raises(FloatingPointError, match=r"phase 1, epoch 1: critic_loss = nan\. .*lr_critic"):
        DAnoGANDetector(**PARAMS, device=device).fit(data)
    assert calls["n"] == 4  # the epoch's four critic steps ran: caught at its end
    if device == "cuda":
        torch.ones(2, device=device).sum().item()  # the GPU still works


def test_history_has_one_entry_per_epoch_even_without_generator_steps(data):
    # 64 rows, batch 16: 4 critic steps per epoch; n_critic=9 leaves epochs
    # without a generator step.
    det = DAnoGANDetector(**{**PARAMS, "n_critic": 9, "n_epochs": 4}).fit(data)
    losses = det.history_["generator_loss"]
    assert losses.shape == (4,)
    assert np.isnan(losses).sum() >= 1 and np.isfinite(losses).sum() >= 2
