"""The Wheel inspection preset: camera nuisances, subtle defects, and the thesis preset unchanged."""

import dataclasses
import hashlib

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from danogan_sk.datasets import wheel
from danogan_sk.datasets.wheel import WheelSpec, get_manifold, make_wheels, render_wheels, write_wheels
from danogan_sk.datasets.wheel_figure import wheel_samples_figure
from danogan_sk.datasets.wheel_variation import NUISANCE_KEYS, VARIATIONS, Variation

ALL_MANIFOLDS, NORMAL_MANIFOLDS = wheel.ALL_MANIFOLDS, wheel.NORMAL_MANIFOLDS
INSPECTION_ANOMALIES, INSPECTION_MANIFOLDS = wheel.INSPECTION_ANOMALIES, wheel.INSPECTION_MANIFOLDS

SMALL = 64
INSPECTION = VARIATIONS["inspection"]


def _pixel_grid(size):
    """Column and row coordinate of every pixel center."""
    c = np.arange(size) + 0.5
    return c[None, :], c[:, None]


# ---------------------------------------------------------------- thesis preset


def test_thesis_preset_output_is_pinned():
    # Values recorded before the inspection preset existed: the thesis's data stay as they were.
    X, y, p = make_wheels(20, ALL_MANIFOLDS, image_size=48, random_state=123, return_params=True)
    assert y.tolist() == [4, 4, 1, 3, 6, 0, 2, 8, 9, 2, 1, 5, 0, 7, 5, 8, 6, 9, 3, 7]
    assert list(p) == ["rim_diameter", "hub_diameter", "rotation"]
    digest = hashlib.sha256(b"".join(p[k].tobytes() for k in sorted(p))).hexdigest()
    assert digest == "90b7cdb79fa95767516a04f23aee9a794bc6d419b24a53b3542cc1fd22c4f1bc"
    # Pixel sums rather than bytes: float32 trigonometry may differ in the last bit between CPUs.
    X64 = X.astype(np.float64)
    assert X64.sum() == pytest.approx(12636.48165051639, abs=1e-3)
    assert (X64 ** 2).sum() == pytest.approx(7561.016736385793, abs=1e-3)
    for variation in ("thesis", Variation("no_camera")):
        X2, y2, p2 = make_wheels(20, ALL_MANIFOLDS, image_size=48, random_state=123,
                                 return_params=True, variation=variation)
        np.testing.assert_array_equal(X2, X)
        np.testing.assert_array_equal(y2, y)
        assert p2.keys() == p.keys()


def test_new_manifolds_are_registered_and_groups_resolve():
    assert [s.name for s in INSPECTION_ANOMALIES] == [
        "low_contrast_fork", "mixed_bolts", "cracked_spoke", "missing_bolt_hole"]
    assert INSPECTION_MANIFOLDS == NORMAL_MANIFOLDS + INSPECTION_ANOMALIES
    assert wheel.resolve_manifolds("inspection") == INSPECTION_MANIFOLDS
    assert wheel.resolve_manifolds("subtle") == INSPECTION_ANOMALIES[2:]
    assert wheel.resolve_manifolds("all") == ALL_MANIFOLDS  # the thesis's ten, unchanged
    assert all(wheel.MANIFOLDS[s.name] is s for s in INSPECTION_MANIFOLDS)
    crack, missing = get_manifold("cracked_spoke"), get_manifold("missing_bolt_hole")
    assert dataclasses.replace(crack, name="3spoke_closed_4bolt", crack_width=0.0) == NORMAL_MANIFOLDS[0]
    assert dataclasses.replace(missing, name="5spoke_closed_4bolt", missing_holes=0) == NORMAL_MANIFOLDS[4]


# ------------------------------------------------------------------ nuisances


def test_inspection_seeds_reproduce_and_differ():
    kwargs = dict(image_size=SMALL, variation="inspection", return_params=True)
    X1, y1, p1 = make_wheels(24, random_state=3, **kwargs)
    X2, y2, p2 = make_wheels(24, random_state=3, **kwargs)
    X3, _, p3 = make_wheels(24, random_state=4, **kwargs)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    for key in NUISANCE_KEYS:
        np.testing.assert_array_equal(p1[key], p2[key])
        assert not np.array_equal(p1[key], p3[key])


def test_every_nuisance_value_is_drawn_over_its_stated_range():
    _, _, p = make_wheels(400, image_size=32, variation="inspection", random_state=0,
                          return_params=True)
    v = INSPECTION
    ranges = {
        "rotation": (-v.rotation, v.rotation),
        "scale": v.scale,
        "center_x": (-v.translation, v.translation),
        "center_y": (-v.translation, v.translation),
        "illumination": (0.0, v.illumination),
        "illumination_angle": (0.0, 360.0),
        "brightness": (-v.brightness, v.brightness),
        "contrast": (1 - v.contrast, 1 + v.contrast),
        "noise": (0.0, v.noise),
        "blur": (0.0, v.blur),
    }
    assert set(p) == set(ranges) | {"rim_diameter", "hub_diameter"}
    for key, (lo, hi) in ranges.items():
        values = p[key]
        assert values.min() >= lo and values.max() <= hi, key
        assert np.ptp(values) > 0.9 * (hi - lo), key  # the whole range is used, not a corner
    assert v.rotation == 180.0 and v.translation > 0 and v.blur > 0 and v.noise > 0


def test_translation_and_scale_are_where_the_images_show_the_wheel():
    size = 96
    variation = Variation(translation=0.06, scale=(0.7, 1.0))
    X, _, p = make_wheels(16, image_size=size, variation=variation, random_state=2,
                          return_params=True)
    cols, rows = _pixel_grid(size)
    disc = X > 0.1  # the wheel's disc, windows included, is symmetric about its centre
    area = disc.sum(axis=(1, 2))
    center_x = (disc * cols).sum(axis=(1, 2)) / area - size / 2
    center_y = (disc * rows).sum(axis=(1, 2)) / area - size / 2
    np.testing.assert_allclose(center_x, p["center_x"] * size, atol=0.5)
    np.testing.assert_allclose(center_y, p["center_y"] * size, atol=0.5)
    assert np.abs(center_x).max() > 2.0  # the offsets are not all negligible
    # The threshold takes in about half a pixel of the anti-aliased edge on each side.
    diameter = (2 * np.sqrt(area / np.pi) - 1.0) / size
    np.testing.assert_allclose(diameter, p["rim_diameter"] * p["scale"], atol=0.01)


def test_light_gain_offset_and_noise_follow_their_values():
    size = SMALL
    kwargs = dict(image_size=size, random_state=5, return_params=True, shuffle=False)
    clean, _, _ = make_wheels([6], ["5spoke_forked_4bolt"], **kwargs)
    light = Variation(illumination=0.4, brightness=0.1, contrast=0.3)
    lit, _, p = make_wheels([6], ["5spoke_forked_4bolt"], variation=light, **kwargs)
    x = (np.arange(size) + 0.5) * 2 / size - 1
    angle = np.deg2rad(p["illumination_angle"])[:, None, None]
    along = np.cos(angle) * x[None, None, :] - np.sin(angle) * x[None, :, None]
    col = lambda a: a[:, None, None]  # noqa: E731
    expected = (clean * (1 + col(p["illumination"]) * along) - 0.5) * col(p["contrast"])
    expected = np.clip(expected + 0.5 + col(p["brightness"]), 0, 1)
    np.testing.assert_allclose(lit, expected, atol=1e-5)

    noisy, _, q = make_wheels([6], ["5spoke_forked_4bolt"], variation=Variation(noise=0.08),
                              **kwargs)
    inside = (clean > 0.25) & (clean < 0.75)  # away from clipping
    residual_sd = [np.std((noisy - clean)[i][inside[i]]) for i in range(6)]
    np.testing.assert_allclose(residual_sd, q["noise"], atol=0.006)


def test_chunked_inspection_rendering_matches_one_batch(monkeypatch):
    X_one, _ = make_wheels(20, image_size=SMALL, random_state=1, variation="inspection")
    monkeypatch.setattr(wheel, "_CHUNK_PIXELS", 3 * SMALL * SMALL)
    X_chunked, _ = make_wheels(20, image_size=SMALL, random_state=1, variation="inspection")
    np.testing.assert_array_equal(X_one, X_chunked)


# ------------------------------------------------------------------- defects


def _one_nuisance(field):
    return Variation(field, **{field: getattr(INSPECTION, field)})


_SETTINGS = [VARIATIONS["thesis"], INSPECTION] + [
    _one_nuisance(f) for f in ("rotation", "translation", "scale", "illumination",
                               "brightness", "contrast", "noise", "blur")
]


def _defect_region(name, p, size, margin):
    """Pixels the defect may touch, from the drawn geometry and nuisance values."""
    scale = p.get("scale", np.ones_like(p["rim_diameter"]))
    cols, rows = _pixel_grid(size)
    cx = size / 2 + p.get("center_x", 0 * scale) * size
    cy = size / 2 + p.get("center_y", 0 * scale) * size
    dx, dy = cols - cx[:, None, None], rows - cy[:, None, None]
    r = np.hypot(dx, dy)
    R = (p["rim_diameter"] * scale * size / 2)[:, None, None]
    h = (p["hub_diameter"] * scale * size / 2)[:, None, None]
    if name in ("mixed_bolts", "missing_bolt_hole"):
        return r <= h + margin
    if name == "low_contrast_fork":
        return (r >= h - margin) & (r <= R + margin)
    # cracked_spoke: along the first spoke, which points up at rotation 0 (rows grow downwards).
    a = np.deg2rad(p["rotation"] + 90.0)[:, None, None]
    along = dx * np.cos(a) - dy * np.sin(a)
    across = np.abs(dx * np.sin(a) + dy * np.cos(a))
    return (along > h - margin) & (along < R + margin) & (across < 0.15 * R + margin)


@pytest.mark.parametrize("variation", _SETTINGS, ids=lambda v: v.name)
def test_a_faulty_twin_differs_from_its_normal_wheel_only_inside_the_defect(variation):
    size = SMALL
    pairs = [("3spoke_closed_4bolt", "cracked_spoke"), ("5spoke_closed_4bolt", "missing_bolt_hole"),
             ("3spoke_closed_4bolt", "mixed_bolts"), ("5spoke_forked_5bolt", "low_contrast_fork")]
    normal, faulty = [n for n, _ in pairs], [f for _, f in pairs]
    kwargs = dict(image_size=size, random_state=7, shuffle=False, return_params=True,
                  variation=variation)
    Xn, _, pn = make_wheels([4] * 4, normal, **kwargs)
    Xf, _, pf = make_wheels([4] * 4, faulty, **kwargs)
    for key in pn:
        np.testing.assert_array_equal(pn[key], pf[key])
    # Blur reach plus one pixel of bilinear shift and one of anti-aliasing.
    margin = 3.0 * variation.blur * size + 3.0
    for k, name in enumerate(faulty):
        rows = slice(4 * k, 4 * k + 4)
        region = _defect_region(name, {key: v[rows] for key, v in pn.items()}, size, margin)
        diff = Xn[rows] != Xf[rows]
        assert not diff[~region].any(), name
        assert np.all(np.abs(Xn[rows] - Xf[rows]).sum(axis=(1, 2)) > 1.0), name


def test_crack_and_missing_hole_darken_and_brighten_where_expected():
    rim, hub = np.array([0.85, 0.95]), np.array([0.25, 0.3])
    size = 128
    cracked = render_wheels("cracked_spoke", rim, hub, image_size=size)
    whole = render_wheels("3spoke_closed_4bolt", rim, hub, image_size=size)
    assert np.all((cracked <= whole + 1e-6).reshape(2, -1).all(axis=1))  # a crack only darkens
    # The crack cuts the first spoke (pointing up) straight through: some pixel column
    # of the upper half goes from spoke-bright to window-dark.
    assert (whole[:, : size // 2] - cracked[:, : size // 2]).max() > 0.5
    holed = render_wheels("missing_bolt_hole", rim, hub, image_size=size)
    drilled = render_wheels("5spoke_closed_4bolt", rim, hub, image_size=size)
    assert np.all(holed >= drilled - 1e-6)  # an undrilled hole only brightens
    dark = lambda X: (X < 0.5).sum(axis=(1, 2))  # noqa: E731
    assert np.all(dark(holed) < dark(drilled))


# ---------------------------------------------------------- still learnable


def _fourier_radial_profile(X):
    """Log mean 2-D Fourier magnitude per integer frequency radius: blind to rotation and shift."""
    n, size, _ = X.shape
    F = np.abs(np.fft.fft2(X - X.mean(axis=(1, 2), keepdims=True)))
    f = np.fft.fftfreq(size) * size
    radius = np.rint(np.hypot(f[None, :], f[:, None])).astype(int)
    keep = (radius > 0) & (radius < size // 2)
    bins, counts = radius[keep], np.bincount(radius[keep])
    profile = np.stack([np.bincount(bins, weights=m[keep]) for m in F])[:, 1:] / counts[1:]
    return np.log(profile + 1e-6)


def test_rotation_invariant_features_still_separate_spoke_counts_under_inspection():
    X_train, y_train = make_wheels(8 * 40, image_size=SMALL, random_state=0, variation="inspection")
    X_test, y_test = make_wheels(8 * 20, image_size=SMALL, random_state=1, variation="inspection")
    spokes = np.array([s.n_spokes for s in NORMAL_MANIFOLDS])
    clf = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis())
    clf.fit(_fourier_radial_profile(X_train), spokes[y_train])
    assert clf.score(_fourier_radial_profile(X_test), spokes[y_test]) >= 0.9


# ------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rotation=200.0), "Variation.rotation must be a number in"),
        (dict(translation=-0.1), "Variation.translation must be"),
        (dict(scale=(1.2, 0.9)), "Variation.scale must satisfy"),
        (dict(scale="big"), "Variation.scale must be a pair"),
        (dict(illumination=1.0), "Variation.illumination must be"),
        (dict(noise=float("nan")), "Variation.noise must be"),
        (dict(blur=0.2), "Variation.blur must be"),
    ],
)
def test_variation_rejects_bad_amounts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Variation(**kwargs)


def test_bad_variation_name_and_defect_fields_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown wheel variation 'studio'"):
        make_wheels(4, image_size=32, variation="studio")
    with pytest.raises(ValueError, match="unknown wheel variation"):
        write_wheels(tmp_path, 1, image_size=32, variation="studio")
    with pytest.raises(ValueError, match="missing_holes .4. must be fewer"):
        WheelSpec("bad", 3, bolt_patterns=(4,), missing_holes=4)
    with pytest.raises(ValueError, match="missing_holes .1. must be fewer"):
        WheelSpec("bad", 3, bolt_patterns=(), missing_holes=1)
    with pytest.raises(ValueError, match="crack_width must be a number in"):
        WheelSpec("bad", 3, crack_width=-0.1)
    with pytest.raises(ValueError, match="crack_position must be a number in"):
        WheelSpec("bad", 3, crack_position=1.0)


def test_write_wheels_csv_carries_every_nuisance_value(tmp_path):
    import csv

    path = write_wheels(tmp_path, 2, image_size=32, manifolds="subtle", random_state=0,
                        variation="inspection")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    _, _, p = make_wheels([2, 2], "subtle", image_size=32, shuffle=False, random_state=0,
                          return_params=True, variation="inspection")
    assert list(rows[0]) == ["filename", "label", "manifold", *p]
    for key in NUISANCE_KEYS:
        np.testing.assert_allclose([float(r[key]) for r in rows], p[key], atol=1e-6)


def test_samples_figure_has_a_cell_per_image_and_red_titles_for_anomalies(tmp_path):
    pytest.importorskip("matplotlib")
    PIL = pytest.importorskip("PIL.Image")
    specs = [NORMAL_MANIFOLDS[0], INSPECTION_ANOMALIES[2]]
    X, y = make_wheels([2, 2], specs, image_size=32, shuffle=False, random_state=0,
                       variation="inspection")
    path = wheel_samples_figure(X, y, specs, 1, tmp_path / "f.png", cell=(1.0, 1.0), dpi=50)
    with PIL.open(path) as im:
        assert im.size == (100, 100)
        rgb = np.asarray(im.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 100) & (rgb[..., 2] < 100)
    assert red[:, 50:].sum() > 5 and red[:, :50].sum() == 0  # only the anomaly's title
