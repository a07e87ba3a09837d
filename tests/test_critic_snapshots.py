"""``critic_snapshots``: critics kept at earlier epochs, read by the ``critic`` score term."""

import pickle

import numpy as np
import pytest
import sklearn
import torch

import danogan_sk.training as training
from conftest import single_thread
from danogan_sk import THESIS_PARAMS, DAnoGANDetector

X = np.random.default_rng(0).normal(size=(64, 5))
# A fixed entropy decay: the first epochs of a longer fit are those of a shorter one.
TINY = dict(n_generators=2, latent_dim=2, xzx_epochs=1, batch_size=16, n_critic=2, entropy_decay=0.999,
            memory_bank_size=20, random_state=0)


pytestmark = pytest.mark.usefixtures("one_thread")  # equal fits need equal float reductions


@pytest.fixture(scope="module")
def fitted():
    with single_thread():
        return DAnoGANDetector(n_epochs=17, critic_snapshots=4, **TINY).fit(X)


def _critic_state(critic):
    return {k: v.detach().cpu() for k, v in critic.state_dict().items()}


@pytest.mark.parametrize("average", [1, 3])
def test_a_snapshot_is_the_critic_a_fit_of_that_many_epochs_scores_with(average):
    det = DAnoGANDetector(n_epochs=17, critic_snapshots=4, critic_average_epochs=average, **TINY).fit(X)
    assert det.critic_snapshots_.epochs == (8, 16)
    for epochs, critic in zip((8, 16), det.critic_snapshots_.critics):
        shorter = DAnoGANDetector(n_epochs=epochs, critic_snapshots=0, critic_average_epochs=average, **TINY).fit(X)
        expected = _critic_state(shorter.networks_.critic)
        for name, tensor in _critic_state(critic).items():
            torch.testing.assert_close(tensor, expected[name], msg=name)


@pytest.mark.parametrize("n_epochs, kept, epochs", [(33, 2, (16, 32)), (33, 1, (32,)), (16, 4, (8,)),
                                                    (8, 4, None), (17, 0, None)])
def test_the_last_snapshots_are_kept_and_the_last_epoch_is_the_critic_itself(n_epochs, kept, epochs):
    det = DAnoGANDetector(n_epochs=n_epochs, critic_snapshots=kept, **TINY).fit(X)
    if epochs is None:
        assert det.critic_snapshots_ is None
    else:
        assert det.critic_snapshots_.epochs == epochs
        assert len(det.critic_snapshots_) == len(epochs) <= kept


def test_the_default_keeps_the_earlier_critics_and_the_thesis_configuration_does_not():
    default = DAnoGANDetector(n_epochs=33, **TINY).fit(X)
    assert default.critic_snapshots_.epochs == (8, 16, 32)
    thesis = {**THESIS_PARAMS, **TINY, "n_epochs": 33}
    assert DAnoGANDetector(**thesis).fit(X).critic_snapshots_ is None


def test_the_critic_term_is_the_mean_of_every_critic_s_scaled_value(fitted):
    queries = np.random.default_rng(1).normal(size=(10, 5))

    def values(critic, data):
        x = fitted._to_network_input(fitted._validate_rows(data, reset=False))
        with torch.no_grad():
            return -critic(torch.as_tensor(x, dtype=torch.float32))[0].cpu().numpy().astype(np.float64)

    critics = [*fitted.critic_snapshots_.critics, fitted.networks_.critic]
    scales = [np.subtract(*np.percentile(values(c, X), [75, 25])) for c in critics]
    expected = np.mean([values(c, queries) / s for c, s in zip(critics, scales)], axis=0) * scales[-1]
    np.testing.assert_allclose(fitted.score_components(queries)["critic"], expected, rtol=1e-4, atol=1e-5)
    # Not the last critic's value alone.
    assert not np.allclose(expected, values(fitted.networks_.critic, queries), rtol=1e-2)


def test_the_critic_term_is_chunk_invariant_and_survives_a_pickle(fitted):
    queries = np.random.default_rng(2).normal(size=(30, 5))
    whole = fitted.score_components(queries)["critic"]
    assert np.all(np.isfinite(whole))
    with sklearn.config_context(working_memory=0.01):
        np.testing.assert_allclose(fitted.score_components(queries)["critic"], whole, rtol=1e-5, atol=1e-6)
    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded.critic_snapshots_.epochs == fitted.critic_snapshots_.epochs
    np.testing.assert_array_equal(loaded.score_samples(queries), fitted.score_samples(queries))
    # Pickling moved nothing of the fitted detector itself.
    assert fitted.critic_snapshots_.scales.device == torch.device(fitted.device_)


def test_continuing_a_fit_keeps_its_snapshots():
    straight = DAnoGANDetector(n_epochs=17, critic_snapshots=4, **TINY).fit(X)
    det = DAnoGANDetector(n_epochs=10, warm_start=True, critic_snapshots=4, **TINY).fit(X)
    assert det.critic_snapshots_.epochs == (8,)
    det.set_params(n_epochs=17).fit(X)
    assert det.critic_snapshots_.epochs == (8, 16)
    np.testing.assert_allclose(det.score_samples(X), straight.score_samples(X), rtol=1e-5, atol=1e-7)


def test_a_run_resumed_from_its_checkpoint_keeps_its_snapshots(tmp_path, monkeypatch):
    straight = DAnoGANDetector(n_epochs=17, critic_snapshots=4, **TINY).fit(X)
    original, calls = training._phase1_epoch, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:  # after the snapshot of epoch 8
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "_phase1_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DAnoGANDetector(n_epochs=17, checkpoint_dir=tmp_path, critic_snapshots=4, **TINY).fit(X)
    monkeypatch.setattr(training, "_phase1_epoch", original)
    resumed = DAnoGANDetector(n_epochs=17, checkpoint_dir=tmp_path, critic_snapshots=4, **TINY).fit(X)
    assert resumed.critic_snapshots_.epochs == (8, 16)
    np.testing.assert_array_equal(resumed.score_samples(X), straight.score_samples(X))


def test_a_detector_pickled_before_snapshots_existed_reads_its_last_critic(fitted):
    state = fitted.__getstate__()
    del state["critic_snapshots_"], state["critic_snapshots"]
    old = DAnoGANDetector.__new__(DAnoGANDetector)
    old.__setstate__(state)
    assert old.critic_snapshots_ is None and old.critic_snapshots == 0
    own = -fitted.networks_.critic(torch.as_tensor(
        fitted._to_network_input(fitted._validate_rows(X[:5], reset=False)), dtype=torch.float32))[0]
    np.testing.assert_allclose(old.score_components(X[:5])["critic"], own.detach().cpu().numpy(), rtol=1e-5)
