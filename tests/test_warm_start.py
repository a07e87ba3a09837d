"""warm_start: a larger n_epochs continues the last fit instead of starting over."""

import pickle

import numpy as np
import pytest

from danogan_sk import DAnoGANDetector

X = np.random.default_rng(0).normal(size=(64, 3))
TINY = dict(n_generators=2, latent_dim=2, xzx_epochs=1, batch_size=16, n_critic=2,
            entropy_decay=0.999, memory_bank_size=20, random_state=0)


pytestmark = pytest.mark.usefixtures("one_thread")  # equal fits need equal float reductions


def _assert_same_model(a, b):
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-5, atol=1e-7)
    for name in ("critic_loss", "reconstruction_error", "entropy_weight", "xzx_loss"):
        np.testing.assert_allclose(a.history_[name], b.history_[name], rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("averaging", [{"critic_average_epochs": 1},
                                       {"critic_average_epochs": 3, "generator_average_epochs": 3},
                                       {"generator_average_epochs": 3, "shared_trunk": True}])
def test_continuing_two_epochs_to_four_equals_a_four_epoch_fit(averaging):
    # With averaged networks, the two-epoch fit averages its two epochs but keeps the
    # trained networks and their windows to continue from.
    params = dict(TINY, **averaging)
    straight = DAnoGANDetector(n_epochs=4, **params).fit(X)
    det = DAnoGANDetector(n_epochs=2, warm_start=True, **params).fit(X)
    two_epochs = det.score_samples(X)
    det.set_params(n_epochs=4).fit(X)
    assert det.history_["critic_loss"].shape == (4,)
    assert not np.allclose(det.score_samples(X), two_epochs)
    _assert_same_model(det, straight)
    # xzx ran once, after the last phase-1 epoch, as in the straight fit
    assert det.history_["xzx_loss"].shape == (1,)


def test_the_auto_schedule_continues_with_the_plan_of_the_new_length():
    params = dict(TINY, entropy_decay="auto")
    straight = DAnoGANDetector(n_epochs=4, **params).fit(X)
    det = DAnoGANDetector(n_epochs=2, warm_start=True, **params).fit(X)
    first = det.history_["entropy_weight"].copy()
    det.set_params(n_epochs=4).fit(X)
    weights = det.history_["entropy_weight"]
    np.testing.assert_array_equal(weights[:2], first)  # the epochs run keep their schedule
    np.testing.assert_allclose(weights[2:], straight.history_["entropy_weight"][2:])
    assert weights[2] > first[1]  # the longer plan decays more slowly


def test_a_pickled_detector_continues():
    det = DAnoGANDetector(n_epochs=2, warm_start=True, **TINY).fit(X)
    det = pickle.loads(pickle.dumps(det)).set_params(n_epochs=3).fit(X)
    _assert_same_model(det, DAnoGANDetector(n_epochs=3, **TINY).fit(X))


def test_continuing_with_a_checkpoint_dir(tmp_path):
    det = DAnoGANDetector(n_epochs=1, warm_start=True, checkpoint_dir=tmp_path, **TINY).fit(X)
    det.set_params(n_epochs=2).fit(X)
    _assert_same_model(det, DAnoGANDetector(n_epochs=2, **TINY).fit(X))


@pytest.mark.parametrize(
    "change, data, message",
    [
        ({}, np.random.default_rng(1).normal(size=X.shape), "same data"),
        ({"lr_critic": 1e-3}, X, "only n_epochs and xzx_epochs"),
        ({"n_epochs": 1}, X, "n_epochs=1 must be at least the 2 epochs"),
    ],
)
def test_what_cannot_be_continued_is_refused(change, data, message):
    det = DAnoGANDetector(n_epochs=2, warm_start=True, **TINY).fit(X)
    with pytest.raises(ValueError, match=message):
        det.set_params(**change).fit(data)


def test_warm_start_after_a_fit_that_kept_no_state_starts_over():
    det = DAnoGANDetector(n_epochs=1, **TINY).fit(X)
    assert det._phase1_state is None  # no state kept without warm_start
    with pytest.warns(UserWarning, match="starts over"):
        det.set_params(warm_start=True, n_epochs=2).fit(X)
    _assert_same_model(det, DAnoGANDetector(n_epochs=2, **TINY).fit(X))


def test_a_fit_resumed_during_xzx_keeps_no_state_to_continue_from(tmp_path, monkeypatch):
    from danogan_sk import training

    params = dict(TINY, xzx_epochs=2, n_epochs=1, warm_start=True, checkpoint_dir=tmp_path)
    original = training._xzx_epoch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(training, "_xzx_epoch", interrupted)
        with pytest.raises(KeyboardInterrupt):
            DAnoGANDetector(**params).fit(X)
    det = DAnoGANDetector(**params).fit(X)  # resumes after the first xzx epoch
    assert det._phase1_state is None
    with pytest.warns(UserWarning, match="starts over"):
        det.set_params(n_epochs=2, checkpoint_dir=None).fit(X)
