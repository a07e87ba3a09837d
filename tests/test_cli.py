"""The danogan command: wheels writes a data set, run scores both Wheel anomalies."""

import json

import numpy as np

from danogan_sk import DAnoGANDetector
from danogan_sk.cli import main


def test_wheels_writes_an_npz_with_every_manifold(tmp_path):
    assert main(["wheels", "--per-manifold", "3", "--size", "32", "--out", str(tmp_path),
                 "--format", "npz"]) == 0
    data = np.load(tmp_path / "wheels.npz")
    assert data["X"].shape == (30, 32, 32)
    assert np.bincount(data["y"]).tolist() == [3] * 10


def test_wheels_reports_bad_arguments_without_a_traceback(tmp_path, capsys):
    assert main(["wheels", "--per-manifold", "3", "--size", "16", "--out", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err


def test_run_prints_an_auc_per_anomaly_and_saves_the_detector(tmp_path, capsys):
    code = main(["run", "--per-manifold", "20", "--size", "32", "--n-epochs", "1",
                 "--xzx-epochs", "0", "--n-generators", "2", "--verbose", "0",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "| low_contrast_fork |" in out and "| mixed_bolts |" in out
    results = json.loads((tmp_path / "results.json").read_text())
    for name in ("low_contrast_fork", "mixed_bolts"):
        row = [results[name + key] for key in ("", " (thesis eq. 5.1)", " (raw-pixel 1-NN)")]
        assert all(0.0 <= auc <= 1.0 for auc in row)
        assert f"| {name} | " + " | ".join(f"{auc:.3f}" for auc in row) + " |" in out
    assert results["critic_weight"] == 0.5 and results["scale_terms"] is True
    assert results["neighbor_weight"] == DAnoGANDetector().neighbor_weight
    assert (tmp_path / "detector.joblib").exists()
