"""PolarSpectrum: rotation- and gain-invariant rows, its contract, and in front of the detector."""

import pickle

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import make_wheels
from danogan_sk.preprocessing import PolarSpectrum


@pytest.fixture(scope="module")
def wheels():
    return make_wheels(16, image_size=32, random_state=0)


def test_a_quarter_turn_and_the_camera_s_gain_and_offset_leave_the_rows_unchanged(wheels):
    X, _ = wheels
    spectrum = PolarSpectrum().fit(X)
    rows = spectrum.transform(X)
    turned = spectrum.transform(np.rot90(X, axes=(1, 2)))
    relit = spectrum.transform(0.5 * X + 0.2)
    np.testing.assert_allclose(turned, rows, atol=2e-5)
    np.testing.assert_allclose(relit, rows, atol=2e-5)
    # ... while different wheels stay apart.
    assert np.abs(rows[0] - rows[-1]).max() > 0.1


def _shifted(X, right: int, down: int):
    """``X`` moved by whole pixels, the border's background filling in (the wheels' border is uniform)."""
    padded = np.pad(X, ((0, 0), (down, 0), (right, 0)), mode="edge")
    return padded[:, : X.shape[1], : X.shape[2]]


def test_the_rings_follow_a_part_moved_in_the_frame_or_darker_than_its_background(wheels):
    X, _ = wheels
    moved = _shifted(X, right=2, down=1)

    def change(spectrum, Y):
        rows = spectrum.fit(X).transform(X)
        return np.abs(spectrum.transform(Y) - rows).mean() / np.abs(rows).mean()

    assert change(PolarSpectrum(), moved) < 0.2 * change(PolarSpectrum(center="image"), moved)
    # A dark part on a bright background is found as well: inverting an image only
    # flips the sign of the standardised rings, which the magnitudes drop.
    spectrum = PolarSpectrum().fit(X)
    np.testing.assert_allclose(spectrum.transform(1 - moved), spectrum.transform(moved), atol=2e-5)


def _zoomed(X, factor: float):
    """``X`` with the part ``factor`` times its size about the image centre, the border filling in."""
    import torch
    import torch.nn.functional as F

    theta = torch.tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]]).expand(len(X), 2, 3)
    images = torch.from_numpy(X[:, None])
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)[:, 0].numpy()


def test_the_rings_grow_with_the_part_relative_to_the_training_parts(wheels):
    X, _ = wheels
    smaller = _zoomed(X, 0.85)
    spectrum = PolarSpectrum().fit(X)
    ratio = PolarSpectrum().fit(smaller).reference_radius_ / spectrum.reference_radius_
    assert ratio == pytest.approx(0.85, abs=0.02)
    assert PolarSpectrum(radius="image").fit(X).reference_radius_ == 1.0

    def change(spectrum):
        # A zoomed part's distance to its own row, against the median distance between rows.
        rows = spectrum.fit(X).transform(X)
        distances = np.linalg.norm(spectrum.transform(_zoomed(X, 0.9))[:, None] - rows[None], axis=2)
        return np.diag(distances).mean() / np.median(distances)

    assert change(PolarSpectrum()) < 0.5 * change(PolarSpectrum(radius="image"))


def test_an_image_without_a_foreground_is_sampled_about_the_image_centre(wheels):
    X, _ = wheels
    flat = np.full((2, 32, 32), 0.3, dtype=np.float32)
    spectrum = PolarSpectrum().fit(np.concatenate([X, flat]))
    rows = spectrum.transform(flat)
    assert np.isfinite(spectrum.reference_radius_) and np.isfinite(rows).all()
    np.testing.assert_array_equal(rows, PolarSpectrum(center="image", radius="image").fit(flat).transform(flat))


def test_rows_have_one_block_per_channel_ring_and_harmonic(wheels):
    X, _ = wheels
    spectrum = PolarSpectrum(n_radii=5, n_angles=16, n_harmonics=9).fit(np.stack([X, X], axis=1))
    rows = spectrum.transform(np.stack([X, 1 - X], axis=1))
    assert rows.shape == (len(X), 2 * 5 * 9) == (len(X), spectrum.n_features_out_) and rows.dtype == np.float32
    assert spectrum.get_feature_names_out()[[0, -1]].tolist() == ["c0_r0_h0", "c1_r4_h8"]
    # Each channel is standardised on its own, so an inverted channel has the same magnitudes
    # except for the sign, which magnitudes drop.
    np.testing.assert_allclose(rows[:, :45], rows[:, 45:], atol=2e-5)


def test_two_d_rows_with_image_shape_match_image_arrays(wheels):
    X, _ = wheels
    from_images = PolarSpectrum().fit(X).transform(X)
    from_rows = PolarSpectrum(image_shape=(32, 32)).fit(X.reshape(len(X), -1)).transform(X.reshape(len(X), -1))
    np.testing.assert_array_equal(from_rows, from_images)


def test_the_input_is_left_as_it_was_and_a_clone_or_pickle_transforms_alike(wheels):
    X, _ = wheels
    before = X.copy()
    spectrum = PolarSpectrum(n_radii=8).fit(X)
    rows = spectrum.transform(X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(spectrum)).transform(X), rows)
    np.testing.assert_array_equal(clone(spectrum).fit(X).transform(X), rows)


@pytest.mark.parametrize("make, X, message", [
    (lambda: PolarSpectrum(), np.zeros((4, 10)), "needs images"),
    (lambda: PolarSpectrum(image_shape=(3, 3)), np.zeros((4, 10)), r"image_shape=\(3, 3\) does not hold the 10"),
    (lambda: PolarSpectrum(n_angles=16, n_harmonics=10), np.zeros((4, 8, 8)), "n_harmonics=10 is more than"),
    (lambda: PolarSpectrum(n_radii=0), np.zeros((4, 8, 8)), "n_radii"),
    (lambda: PolarSpectrum(center="middle"), np.zeros((4, 8, 8)), "'center' parameter .* 'middle'"),
    (lambda: PolarSpectrum(foreground_threshold=1.0), np.zeros((4, 8, 8)), "'foreground_threshold'"),
    (lambda: PolarSpectrum(), np.full((4, 8, 8), np.nan), "Input X contains NaN"),
    (lambda: PolarSpectrum(), np.full((4, 8, 8), np.inf), "Input X contains infinity"),
    (lambda: PolarSpectrum(), np.zeros((0, 8, 8)), r"0 sample\(s\)"),
    (lambda: PolarSpectrum(), np.zeros((4, 8, 0)), r"0 feature\(s\) .*at least one pixel"),
    (lambda: PolarSpectrum(), np.zeros((4, 8, 8)) + 1j, "Complex data not supported"),
    (lambda: PolarSpectrum(), np.zeros((4, 8, 8, 3)), r"looks channels-last.*np.moveaxis\(X, -1, 1\)"),
])
def test_bad_input_or_parameters_are_named(make, X, message):
    with pytest.raises(ValueError, match=message):
        make().fit(X)


def test_sparse_input_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"dense data is required.*toarray"):
        PolarSpectrum(image_shape=(4, 4)).fit(sparse.csr_matrix(np.eye(4, 16)))


def test_transform_checks_it_was_fitted_and_on_what(wheels):
    X, _ = wheels
    with pytest.raises(NotFittedError):
        PolarSpectrum().transform(X)
    with pytest.raises(ValueError, match=r"X has 256 features, but PolarSpectrum is expecting 1024 .*\(1, 16, 16\), fitted on \(1, 32, 32\)"):
        PolarSpectrum().fit(X).transform(X[:, ::2, ::2])


def test_in_front_of_the_detector_a_turned_part_scores_as_the_part(wheels):
    X, _ = wheels
    detector = make_pipeline(PolarSpectrum(n_radii=8, n_harmonics=9),
                             DAnoGANDetector(n_generators=2, n_epochs=2, xzx_epochs=1, random_state=0)).fit(X[:12])
    # Unseen images: a training image's own bank row is left out of its neighbour term only
    # when it is the very same row.
    scores = detector.decision_function(X[12:])
    np.testing.assert_allclose(detector.decision_function(np.rot90(X[12:], k=3, axes=(1, 2))), scores,
                               atol=1e-3 * np.abs(scores).max())


class PolarSpectrumOnRows(PolarSpectrum):
    """PolarSpectrum reading a 2-D row without ``image_shape`` as a one-pixel-high image.

    scikit-learn's estimator checks feed tables of a few columns, which
    PolarSpectrum refuses without ``image_shape``; read as ``1 x n`` images
    they reach its validation, ``fit`` and ``transform`` unchanged.
    """

    def _rows_as_images(self, X):
        if self.image_shape is None:
            return X.reshape(len(X), 1, 1, X.shape[1])
        return super()._rows_as_images(X)


@parametrize_with_checks([PolarSpectrumOnRows(n_radii=3, n_angles=8, n_harmonics=3)])
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)
