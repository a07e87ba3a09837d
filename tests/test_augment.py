"""The critic's augmentation: per-image moves, their draws, and what a fit does with them."""

import numpy as np
import pytest
import torch

from conftest import single_thread
from danogan_sk import DAnoGANDetector
from danogan_sk.augment import random_moves, translated
from danogan_sk.nn import NetworkSpec, build_networks
from danogan_sk.scoring import shifted_images
from danogan_sk.training import TrainingConfig, _critic_view, _draw_step


def _images(n=5, size=6):
    return torch.randn(n, 2, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("move", [(0, 0), (1, 0), (0, -2), (-3, 2), (5, 5), (0, 6), (-9, 1)])
def test_a_move_shared_by_every_image_is_the_scoring_shift(move):
    x = _images()
    moves = torch.tensor([move] * len(x))
    expected = shifted_images(x, *move, fill=-1.0)
    torch.testing.assert_close(translated(x, moves, fill=-1.0), expected, rtol=0, atol=0)


def test_each_image_moves_by_its_own_move_and_the_input_is_left_alone():
    x = _images()
    before = x.clone()
    moves = torch.tensor([[0, 0], [1, 1], [-2, 0], [0, 3], [7, -7]])
    out = translated(x, moves, fill=0.5)
    # a bound larger than every move gives the same images
    torch.testing.assert_close(translated(x, moves, fill=0.5, max_shift=9), out, rtol=0, atol=0)
    for image, move, moved in zip(x, moves.tolist(), out):
        torch.testing.assert_close(moved, shifted_images(image, *move, fill=0.5), rtol=0, atol=0)
    assert torch.equal(x, before)
    assert torch.all(out[4] == 0.5)  # a move past the image's side leaves only the border value


def test_the_gradient_reaches_exactly_the_pixels_still_in_view():
    x = _images(n=2, size=4).requires_grad_(True)
    translated(x, torch.tensor([[1, 0], [0, -2]]), fill=-1.0).sum().backward()
    # image 0 loses its last row, image 1 its first two columns
    assert x.grad[0, :, :3].eq(1).all() and x.grad[0, :, 3].eq(0).all()
    assert x.grad[1, :, :, 2:].eq(1).all() and x.grad[1, :, :, :2].eq(0).all()


def test_moves_cover_the_range_and_repeat_with_the_seed():
    def draw():
        return random_moves(4000, 2, torch.Generator().manual_seed(3), torch.device("cpu"))

    moves = draw()
    assert moves.shape == (4000, 2)
    assert set(moves.unique().tolist()) == {-2, -1, 0, 1, 2}
    assert torch.equal(moves, draw())


@pytest.mark.parametrize("shape, moved", [((1, 8, 8), True), ((5,), False)])
def test_a_step_draws_moves_last_and_only_for_images(shape, moved):
    nets = build_networks(NetworkSpec(shape, 3, 2, base_channels=4), seed=0)
    real = torch.zeros(6, *shape)

    def step(shift):
        config = TrainingConfig(augment_shift=shift)
        return _draw_step(nets, real, config, torch.Generator().manual_seed(1))

    plain, augmented = step(0), step(2)
    # the thesis's draws come first, the same with or without augmentation
    for name in ("cluster", "z", "eps"):
        assert torch.equal(getattr(plain, name), getattr(augmented, name)), name
    assert plain.real_moves is None and plain.fake_moves is None
    if moved:
        assert augmented.real_moves.shape == augmented.fake_moves.shape == (6, 2)
        assert augmented.real_moves.abs().max() <= 2
        assert not torch.equal(augmented.real_moves, augmented.fake_moves)
        config = TrainingConfig(augment_shift=2)
        torch.testing.assert_close(_critic_view(real + 1, augmented.real_moves, config),
                                   translated(real + 1, augmented.real_moves, fill=-1.0))
    else:
        assert augmented.real_moves is None
    assert _critic_view(real, plain.real_moves, TrainingConfig()) is real


def _detector(**params):
    return DAnoGANDetector(**{**dict(n_generators=2, latent_dim=3, n_epochs=2, xzx_epochs=1,
                                     batch_size=16, base_channels=4, max_channels=8,
                                     random_state=0), **params})


def _fit(X, **params):
    return _detector(**params).fit(X)


def test_augmentation_changes_an_image_fit_repeatably_and_leaves_tabular_fits_alone():
    rng = np.random.default_rng(0)
    images = rng.random((48, 1, 12, 12)).astype(np.float32)
    plain = _fit(images).score_samples(images)
    augmented = _fit(images, augment_shift=2).score_samples(images)
    assert np.all(np.isfinite(augmented))
    assert not np.allclose(plain, augmented)
    np.testing.assert_array_equal(augmented, _fit(images, augment_shift=2).score_samples(images))

    rows = rng.random((48, 6)).astype(np.float32)
    np.testing.assert_array_equal(_fit(rows).score_samples(rows),
                                  _fit(rows, augment_shift=2).score_samples(rows))


def test_a_continued_fit_draws_the_moves_a_straight_fit_draws():
    # The moves come from the run's random generator, whose state warm_start continues from.
    images = np.random.default_rng(1).random((48, 1, 12, 12)).astype(np.float32)
    with single_thread():  # equal results need the same order of float reductions
        straight = _fit(images, augment_shift=2, n_epochs=3)
        continued = _detector(augment_shift=2, warm_start=True)
        continued.fit(images).set_params(n_epochs=3).fit(images)
    np.testing.assert_allclose(continued.score_samples(images), straight.score_samples(images),
                               rtol=1e-5, atol=1e-7)


def test_the_encoders_learn_to_invert_the_fakes_as_drawn_not_as_moved(monkeypatch):
    import danogan_sk.training as training
    from danogan_sk.nn import DAnoGANNetworks

    moved, encoded = [], []
    translate, encode = training.translated, DAnoGANNetworks.encode

    def recording_translated(*args, **kwargs):
        out = translate(*args, **kwargs)
        moved.append(out)  # kept alive, so that no later tensor reuses its memory
        return out

    def recording_encode(self, x, *args, **kwargs):
        encoded.append(x)
        return encode(self, x, *args, **kwargs)

    monkeypatch.setattr(training, "translated", recording_translated)
    monkeypatch.setattr(DAnoGANNetworks, "encode", recording_encode)
    images = np.random.default_rng(2).random((32, 1, 12, 12)).astype(np.float32)
    _fit(images, augment_shift=2, xzx_epochs=0, n_critic=1)
    assert moved and encoded  # the critic saw moved images, and the encoders trained
    assert not {x.data_ptr() for x in encoded} & {x.data_ptr() for x in moved}
