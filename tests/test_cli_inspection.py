"""The danogan command on the Wheel inspection preset: wheels, run and bench."""

import csv
import json

import numpy as np
import pytest

from danogan_sk.benchmark.data import load_pool
from danogan_sk.cli import main
from danogan_sk.datasets.wheel import INSPECTION_MANIFOLDS, make_wheels


def test_wheels_inspection_npz_holds_every_manifold_and_nuisance(tmp_path):
    assert main(["wheels", "--variation", "inspection", "--per-manifold", "2", "--size", "32",
                 "--out", str(tmp_path), "--format", "npz", "--seed", "4"]) == 0
    X, y, params = make_wheels([2] * 12, INSPECTION_MANIFOLDS, image_size=32, shuffle=False,
                               random_state=4, return_params=True, variation="inspection")
    with np.load(tmp_path / "wheels.npz") as data:
        assert data["manifolds"].tolist() == [s.name for s in INSPECTION_MANIFOLDS]
        np.testing.assert_array_equal(data["X"], X)
        for key, values in params.items():
            np.testing.assert_array_equal(data[key], values)


def test_wheels_inspection_png_csv_has_the_nuisance_columns(tmp_path):
    assert main(["wheels", "--variation", "inspection", "--manifolds", "cracked_spoke",
                 "--per-manifold", "3", "--size", "32", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {r["manifold"] for r in rows} == {"cracked_spoke"}
    assert {"scale", "center_x", "illumination", "noise", "blur"} <= set(rows[0])
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_run_on_wheel_inspection_scores_all_four_anomalies(tmp_path, capsys):
    code = main(["run", "--dataset", "wheel-inspection", "--per-manifold", "12", "--size", "32",
                 "--n-epochs", "1", "--xzx-epochs", "0", "--n-generators", "2",
                 "--verbose", "0", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "wheel-inspection 32x32" in out
    results = json.loads((tmp_path / "results.json").read_text())
    for name in ("low_contrast_fork", "mixed_bolts", "cracked_spoke", "missing_bolt_hole"):
        assert f"| {name} | {results[name]:.3f} |" in out


def test_bench_wheel_inspection_defaults_to_64_px_and_tests_four_anomalies(tmp_path, capsys):
    pool = load_pool("wheel-inspection", seed=0, wheel_per_manifold=2)
    assert pool.X.shape[1:] == (64, 64)
    assert [pool.class_names[c] for c in pool.anomaly_classes] == [
        "low_contrast_fork", "mixed_bolts", "cracked_spoke", "missing_bolt_hole"]
    assert load_pool("wheel", seed=0, wheel_per_manifold=2).X.shape[1:] == (32, 32)
    assert load_pool("wheel-inspection", 0, wheel_size=48, wheel_per_manifold=2).X.shape[1:] == (48, 48)
    args = ["bench", "--dataset", "wheel-inspection", "--methods", "raw-pixel 1-NN", "--seeds", "0",
            "--wheel-per-manifold", "10", "--out", str(tmp_path), "--no-figures"]
    assert main(args) == 0
    header = ("| wheel-inspection | cracked_spoke | low_contrast_fork | missing_bolt_hole "
              "| mixed_bolts | mean | fit s |")
    assert header in capsys.readouterr().out


def test_run_behind_polar_spectrum_saves_the_pipeline_that_gives_the_printed_aucs(tmp_path, capsys, monkeypatch):
    import joblib
    from sklearn.metrics import roc_auc_score

    from danogan_sk import cli
    from danogan_sk.benchmark.methods import Preprocessed, RawPixelNN
    from danogan_sk.datasets import normal_anomaly_split
    from danogan_sk.datasets.wheel_benchmarks import get_wheel_benchmark
    from danogan_sk.preprocessing import PolarSpectrum

    monkeypatch.setattr(cli, "_POLAR_EPOCHS", (3, 1))  # the front end's epochs, small enough for a test
    code = main(["run", "--dataset", "wheel-inspection", "--front-end", "polar-spectrum", "--per-manifold", "12",
                 "--size", "32", "--n-generators", "2", "--verbose", "0", "--seed", "1", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "behind PolarSpectrum" in out and "ROC AUC, polar-spectrum 1-NN" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["front_end"] == "polar-spectrum"
    saved = joblib.load(tmp_path / "detector.joblib")
    assert isinstance(saved[0], PolarSpectrum)
    assert (saved[-1].n_epochs, saved[-1].xzx_epochs) == (3, 1)
    assert saved[-1].n_features_in_ == saved[0].n_features_out_  # the detector was fitted on rows

    # The same split as the command's: the saved pipeline and a polar 1-NN give the printed AUCs.
    bench = get_wheel_benchmark("wheel-inspection")
    X, y = bench.make(12, 1, 32)
    normal = [i for i in range(len(bench.class_names)) if i not in bench.anomaly_labels]
    split = normal_anomaly_split(X, y, normal, bench.anomaly_labels, random_state=1)
    anomaly_score = -saved.score_samples(split.X_test)
    nearest = Preprocessed(PolarSpectrum(), RawPixelNN()).fit(split.X_train).anomaly_score(split.X_test)
    for index in bench.anomaly_labels:
        name, mask = bench.class_names[index], split.test_mask(index)
        assert roc_auc_score(split.y_test[mask], anomaly_score[mask]) == pytest.approx(results[name], abs=1e-9)
        assert roc_auc_score(split.y_test[mask], nearest[mask]) == pytest.approx(
            results[f"{name} (polar-spectrum 1-NN)"], abs=1e-12)

