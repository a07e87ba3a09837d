"""Tests of the Wheel data set generator."""

import csv
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline

from danogan_sk.datasets import wheel
from danogan_sk.datasets.wheel import (
    ALL_MANIFOLDS,
    ANOMALOUS_MANIFOLDS,
    INSPECTION_ANOMALIES,
    MANIFOLDS,
    NORMAL_MANIFOLDS,
    WheelSpec,
    base_design,
    get_manifold,
    make_wheels,
    render_wheels,
    resolve_manifolds,
    write_wheels,
)

SMALL = 64


def _pixel_radius(size):
    """Radius of every pixel center in normalised units (image spans [-1, 1])."""
    c = (np.arange(size) + 0.5) * (2.0 / size) - 1.0
    return np.hypot(c[None, :], c[:, None])


# ----------------------------------------------------------------------- manifolds


def test_builtin_manifolds_cover_the_design_grid():
    designs = {(s.n_spokes, s.spoke_style, s.bolt_patterns) for s in NORMAL_MANIFOLDS}
    assert designs == {
        (n, style, (b,)) for n in (3, 5) for style in ("closed", "forked") for b in (4, 5)
    }
    assert [s.name for s in ANOMALOUS_MANIFOLDS] == ["low_contrast_fork", "mixed_bolts"]
    assert ALL_MANIFOLDS == NORMAL_MANIFOLDS + ANOMALOUS_MANIFOLDS
    assert len(MANIFOLDS) == 12 and all(MANIFOLDS[s.name] is s for s in ALL_MANIFOLDS)
    assert get_manifold("low_contrast_fork").fork_shade > 0
    assert get_manifold("mixed_bolts").bolt_patterns == (4, 5)


def test_resolve_manifolds_accepts_names_specs_and_groups():
    custom = WheelSpec("seven", n_spokes=7, bolt_patterns=[6])
    assert custom.bolt_patterns == (6,)  # lists are normalised to tuples
    assert resolve_manifolds(None) == NORMAL_MANIFOLDS
    assert resolve_manifolds("anomalous") == ANOMALOUS_MANIFOLDS
    assert resolve_manifolds("mixed_bolts") == (get_manifold("mixed_bolts"),)
    assert resolve_manifolds(["3spoke_closed_4bolt", custom]) == (NORMAL_MANIFOLDS[0], custom)


# ------------------------------------------------------------------ make_wheels


def test_same_seed_same_images_and_different_seed_different_images():
    X1, y1 = make_wheels(24, image_size=SMALL, random_state=3)
    X2, y2 = make_wheels(24, image_size=SMALL, random_state=3)
    X3, _ = make_wheels(24, image_size=SMALL, random_state=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    rng = np.random.RandomState(3)
    X4, _ = make_wheels(24, image_size=SMALL, random_state=rng)
    np.testing.assert_array_equal(X1, X4)


def test_shapes_dtypes_range_and_even_split():
    X, y = make_wheels(11, image_size=40, random_state=0)
    assert X.shape == (11, 40, 40) and X.dtype == np.float32
    assert y.shape == (11,) and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    # 11 over 8 manifolds: the first three get the remainder.
    assert np.bincount(y, minlength=8).tolist() == [2, 2, 2, 1, 1, 1, 1, 1]


def test_per_manifold_counts_and_unshuffled_order():
    X, y, params = make_wheels(
        [3, 0, 2], ["mixed_bolts", "3spoke_closed_4bolt", "low_contrast_fork"],
        image_size=SMALL, shuffle=False, random_state=0, return_params=True,
    )
    assert y.tolist() == [0, 0, 0, 2, 2]
    assert set(params) == {"rim_diameter", "hub_diameter", "rotation"}
    spec = get_manifold("mixed_bolts")
    rim, hub = params["rim_diameter"], params["hub_diameter"]
    assert np.all((rim >= spec.rim_range[0]) & (rim <= spec.rim_range[1]))
    assert np.all((hub >= spec.hub_range[0]) & (hub <= spec.hub_range[1]))
    assert np.all(params["rotation"] == 0)


def test_shuffle_permutes_images_labels_and_params_together():
    kwargs = dict(image_size=SMALL, random_state=5, return_params=True)
    Xs, ys, ps = make_wheels(16, shuffle=True, **kwargs)
    Xo, yo, po = make_wheels(16, shuffle=False, **kwargs)
    assert not np.array_equal(ys, yo)
    for i in range(len(ys)):
        j = int(np.flatnonzero(po["rim_diameter"] == ps["rim_diameter"][i])[0])
        assert yo[j] == ys[i] and po["hub_diameter"][j] == ps["hub_diameter"][i]
        np.testing.assert_array_equal(Xo[j], Xs[i])


def test_geometry_varies_within_a_manifold():
    X, _, params = make_wheels([6], ["5spoke_closed_5bolt"], image_size=SMALL,
                               random_state=0, return_params=True)
    assert np.ptp(params["rim_diameter"]) > 0.02 and np.ptp(params["hub_diameter"]) > 0.02
    assert not np.array_equal(X[0], X[1])


def test_rotation_and_noise_come_from_the_spec():
    base = get_manifold("3spoke_forked_5bolt")
    turned = dataclasses.replace(base, name="turned", rotation=20.0)
    noisy = dataclasses.replace(base, name="noisy", noise=0.05)
    _, _, p = make_wheels([50], [turned], image_size=SMALL, random_state=0, return_params=True)
    assert np.all(np.abs(p["rotation"]) <= 20.0) and np.ptp(p["rotation"]) > 10.0
    Xc, _ = make_wheels([4], [base], image_size=SMALL, random_state=0)
    Xn, _ = make_wheels([4], [noisy], image_size=SMALL, random_state=0)
    Xn2, _ = make_wheels([4], [noisy], image_size=SMALL, random_state=0)
    np.testing.assert_array_equal(Xn, Xn2)
    residual = (Xn - Xc)[(Xc > 0.2) & (Xc < 0.8)]  # away from clipping
    assert 0.03 < residual.std() < 0.07
    assert Xn.min() >= 0.0 and Xn.max() <= 1.0


def test_chunked_rendering_matches_one_batch(monkeypatch):
    X_one, _ = make_wheels(20, image_size=SMALL, random_state=1)
    monkeypatch.setattr(wheel, "_CHUNK_PIXELS", 3 * SMALL * SMALL)
    X_chunked, _ = make_wheels(20, image_size=SMALL, random_state=1)
    np.testing.assert_array_equal(X_one, X_chunked)


def test_odd_image_size_and_antialiasing_agree_across_resolutions():
    geometry = dict(rim_diameter=[0.85, 0.92], hub_diameter=[0.25, 0.31], rotation=[0.0, 17.0])
    big = render_wheels("5spoke_forked_4bolt", **geometry, image_size=256)
    small = render_wheels("5spoke_forked_4bolt", **geometry, image_size=64)
    odd = render_wheels("5spoke_forked_4bolt", **geometry, image_size=33)
    assert odd.shape == (2, 33, 33)
    # Box-filtering the 256 px image must give the 64 px one: edges are anti-aliased
    # by area coverage, not by point sampling.
    pooled = big.reshape(2, 64, 4, 64, 4).mean(axis=(2, 4))
    assert np.abs(pooled - small).mean() < 0.01
    # Anti-aliased edges produce many gray levels, not a handful of flat shades.
    assert len(np.unique(small)) > 200


# ---------------------------------------------------------- manifolds are distinct


def test_normal_manifolds_are_linearly_separable_on_raw_pixels():
    X_train, y_train = make_wheels(8 * 40, image_size=SMALL, random_state=0)
    X_test, y_test = make_wheels(8 * 20, image_size=SMALL, random_state=1)
    clf = make_pipeline(PCA(40, random_state=0), LinearDiscriminantAnalysis())
    clf.fit(X_train.reshape(len(X_train), -1), y_train)
    accuracy = clf.score(X_test.reshape(len(X_test), -1), y_test)
    assert accuracy >= 0.95


def test_low_contrast_fork_differs_from_the_normal_fork_only_in_the_gaps():
    anomaly = get_manifold("low_contrast_fork")
    forked = get_manifold("5spoke_forked_5bolt")
    closed = get_manifold("5spoke_closed_5bolt")
    assert dataclasses.replace(anomaly, name=forked.name, fork_shade=0.0) == forked
    kwargs = dict(image_size=128, random_state=7, shuffle=False)
    Xa, _ = make_wheels([5], [anomaly], **kwargs)
    Xf, _ = make_wheels([5], [forked], **kwargs)
    Xc, _ = make_wheels([5], [closed], **kwargs)
    gap = Xf != Xc  # a forked and a closed spoke differ exactly in the fork gap
    assert gap.any() and gap.mean() < 0.05
    np.testing.assert_array_equal(Xa[~gap], Xf[~gap])
    changed = Xa != Xf
    assert changed.sum() > 0.5 * gap.sum()
    # Inside the gap the faulty shade lies strictly between open and closed.
    lo, hi = np.minimum(Xf, Xc)[changed], np.maximum(Xf, Xc)[changed]
    assert np.all((Xa[changed] > lo) & (Xa[changed] < hi))


def test_mixed_bolts_differs_from_the_normal_hub_only_inside_the_hub():
    size = 128
    rim, hub = np.array([0.82, 0.9, 0.95]), np.array([0.22, 0.27, 0.32])
    Xm = render_wheels("mixed_bolts", rim, hub, image_size=size)
    X4 = render_wheels("3spoke_closed_4bolt", rim, hub, image_size=size)
    X5 = render_wheels("3spoke_closed_5bolt", rim, hub, image_size=size)
    r = _pixel_radius(size)
    for X in (X4, X5):
        diff = Xm != X
        assert diff.any()
        for i, h in enumerate(hub):
            # Outside the hub disc (plus one pixel of anti-aliasing) nothing changes.
            assert not diff[i][r > h + 2.0 / size].any()
    # Both patterns: mixed hubs have more dark hole area than either normal hub.
    hub_mask = r < hub[:, None, None]
    dark = lambda X: ((X < 0.5) & hub_mask).sum(axis=(1, 2))  # noqa: E731
    assert np.all(dark(Xm) > dark(X4)) and np.all(dark(Xm) > dark(X5))


@pytest.mark.parametrize("anomaly", INSPECTION_ANOMALIES, ids=lambda spec: spec.name)
def test_base_design_is_the_anomaly_without_its_fault(anomaly):
    base = base_design(anomaly)
    assert base in NORMAL_MANIFOLDS
    without_fault = dataclasses.replace(anomaly, name=base.name, bolt_patterns=anomaly.bolt_patterns[:1],
                                        fork_shade=base.fork_shade, crack_width=0.0, missing_holes=0)
    assert without_fault == base
    # Drawn with the same geometry, the anomaly is as near its base as to any normal design
    # (the grey fork lies halfway between a forked and a closed spoke, so those two tie).
    rim, hub = np.array([0.8, 0.9]), np.array([0.25, 0.3])
    faulty = render_wheels(anomaly, rim, hub, image_size=SMALL)
    changed = {d.name: np.abs(faulty - render_wheels(d, rim, hub, image_size=SMALL)).sum()
               for d in NORMAL_MANIFOLDS}
    assert 0 < changed[base.name] <= 1.02 * min(changed.values())
    assert changed[base.name] < 0.2 * max(changed.values())


def test_base_design_of_a_normal_design_is_itself_and_ambiguity_is_an_error():
    for design in NORMAL_MANIFOLDS:
        assert base_design(design) == design
    with pytest.raises(ValueError, match="exactly one base design.*found none"):
        base_design(WheelSpec("seven", 7, "closed", (4,)))
    twice = NORMAL_MANIFOLDS + (dataclasses.replace(NORMAL_MANIFOLDS[0], name="copy"),)
    with pytest.raises(ValueError, match="found 3spoke_closed_4bolt, copy"):
        base_design(NORMAL_MANIFOLDS[0], twice)


def test_spec_swap_with_same_seed_keeps_the_geometry():
    kwargs = dict(image_size=SMALL, random_state=11, return_params=True)
    _, _, p_normal = make_wheels([4, 4], ["3spoke_closed_4bolt", "5spoke_forked_5bolt"], **kwargs)
    _, _, p_faulty = make_wheels([4, 4], ["mixed_bolts", "low_contrast_fork"], **kwargs)
    for key in p_normal:
        np.testing.assert_array_equal(p_normal[key], p_faulty[key])


@settings(max_examples=15, deadline=None)
@given(
    rim=st.floats(0.3, 1.0),
    hub_fraction=st.floats(0.1, 0.75),
    rotation=st.floats(-360, 360),
    n_spokes=st.integers(2, 9),
    forked=st.booleans(),
    bolts=st.lists(st.integers(1, 8), max_size=3),
)
def test_any_valid_geometry_renders_finite_images_in_range(rim, hub_fraction, rotation,
                                                          n_spokes, forked, bolts):
    spec = WheelSpec("h", n_spokes, "forked" if forked else "closed", tuple(bolts))
    X = render_wheels(spec, rim, rim * hub_fraction, rotation, image_size=32)
    assert X.shape == (1, 32, 32)
    assert np.all(np.isfinite(X)) and X.min() >= 0.0 and X.max() <= 1.0
    assert X[0, 0, 0] < 0.1  # the corner is background


# ------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(manifolds=["no_such_wheel"]), "unknown wheel manifold 'no_such_wheel'"),
        (dict(manifolds=[]), "at least one"),
        (dict(image_size=31), "image_size must be at least 32"),
        (dict(image_size=64.0), "image_size must be an integer"),
        (dict(n_samples=0), "n_samples must be a positive integer"),
        (dict(n_samples=-5), "n_samples must be a positive integer"),
        (dict(n_samples=[1, 2]), "2 per-manifold counts but there are 8 manifolds"),
        (dict(n_samples=[1, -1], manifolds="anomalous"), "at least 0"),
        (dict(n_samples=[0, 0], manifolds="anomalous"), "at least one image"),
        (dict(n_samples=2.5), "integer or a sequence"),
    ],
)
def test_make_wheels_rejects_bad_arguments(kwargs, match):
    kwargs.setdefault("image_size", 32)
    with pytest.raises(ValueError, match=match):
        make_wheels(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_spokes=1), "n_spokes must be at least 2"),
        (dict(spoke_style="wavy"), "spoke_style must be one of"),
        (dict(bolt_patterns=(0,)), "bolt_patterns entry must be at least 1"),
        (dict(fork_shade=1.5), "fork_shade must be a number in"),
        (dict(rim_range=(0.9, 0.8)), "rim_range must satisfy"),
        (dict(rim_range=(0.8, 1.2)), "rim_range must satisfy"),
        (dict(hub_range=(0.5, 0.7)), "hub_range upper end"),
        (dict(noise=-0.1), "noise must be a number in"),
    ],
)
def test_wheel_spec_rejects_bad_fields(kwargs, match):
    fields = dict(name="bad", n_spokes=3)
    fields.update(kwargs)
    with pytest.raises(ValueError, match=match):
        WheelSpec(**fields)


def test_render_wheels_rejects_impossible_geometry():
    with pytest.raises(ValueError, match="rim_diameter must lie in"):
        render_wheels("mixed_bolts", 1.2, 0.3, image_size=32)
    with pytest.raises(ValueError, match="hub_diameter must lie in"):
        render_wheels("mixed_bolts", 0.8, 0.7, image_size=32)


def test_write_wheels_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="fmt must be one of"):
        write_wheels(tmp_path, 1, image_size=32, fmt="jpeg")
    with pytest.raises(ValueError, match="n_per_manifold must be at least 1"):
        write_wheels(tmp_path, 0, image_size=32)
    with pytest.raises(ValueError, match="image_size must be at least 32"):
        write_wheels(tmp_path, 1, image_size=16)
    assert not any(tmp_path.iterdir())  # nothing written on failure


# ------------------------------------------------------------------------ writing


def test_write_wheels_png_files_match_the_csv_and_the_images(tmp_path):
    from PIL import Image

    manifolds = ["3spoke_closed_4bolt", "low_contrast_fork", "mixed_bolts"]
    path = write_wheels(tmp_path / "out", 3, image_size=48, manifolds=manifolds, random_state=2)
    assert path == tmp_path / "out" / "labels.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    pngs = sorted(p.name for p in path.parent.glob("*.png"))
    assert len(rows) == 9 and sorted(r["filename"] for r in rows) == pngs
    assert [int(r["label"]) for r in rows] == [0] * 3 + [1] * 3 + [2] * 3
    assert [r["manifold"] for r in rows] == [m for m in manifolds for _ in range(3)]
    # Column order that a Dataset indexing columns 0 and 1 relies on.
    assert list(rows[0])[:2] == ["filename", "label"]
    X, _ = make_wheels([3, 3, 3], manifolds, image_size=48, shuffle=False, random_state=2)
    for row, x in zip(rows, X):
        img = np.asarray(Image.open(path.parent / row["filename"]))
        assert img.shape == (48, 48) and img.dtype == np.uint8
        assert np.abs(img / 255.0 - x).max() <= 0.5 / 255 + 1e-6


def test_write_wheels_defaults_to_all_ten_manifolds(tmp_path):
    path = write_wheels(tmp_path, 1, image_size=32, fmt="NPZ", random_state=0)
    with np.load(path) as data:
        assert data["manifolds"].tolist() == [s.name for s in ALL_MANIFOLDS]
        assert data["y"].tolist() == list(range(10))


def test_write_wheels_npz_round_trip(tmp_path):
    path = write_wheels(tmp_path, [2, 3], image_size=40, manifolds="anomalous",
                        fmt="npz", random_state=9)
    assert path == tmp_path / "wheels.npz"
    X, y, params = make_wheels([2, 3], "anomalous", image_size=40, shuffle=False,
                               random_state=9, return_params=True)
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["X"], X)
        np.testing.assert_array_equal(data["y"], y)
        assert data["X"].dtype == np.float32
        assert data["manifolds"].tolist() == ["low_contrast_fork", "mixed_bolts"]
        for key, value in params.items():
            np.testing.assert_array_equal(data[key], value)


def test_write_wheels_png_without_pillow_says_how_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match="pip install pillow"):
        write_wheels(tmp_path, 1, image_size=32)
    assert not any(tmp_path.iterdir())
