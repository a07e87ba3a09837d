"""The danogan command: wheels writes a data set, run scores both Wheel anomalies."""

import json

import joblib
import numpy as np
import pytest

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
    defaults = DAnoGANDetector().get_params()
    assert all(results[name] == defaults[name] for name in ("critic_weight", "neighbor_weight", "scale_terms"))
    saved = joblib.load(tmp_path / "detector.joblib")
    assert isinstance(saved, DAnoGANDetector) and results["front_end"] == "pixels"
    assert results["patch_weight_"] == saved.patch_weight_
    assert f"patch_weight='auto' chose patch_weight_={saved.patch_weight_} at fit" in out
    assert (tmp_path / "detector.joblib").exists()


def _one_line_error(capsys, *names):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert all(name in err for name in names), err
    return err


@pytest.mark.parametrize("command", [
    ["wheels", "--per-manifold", "1", "--size", "32", "--format", "npz"],
    ["bench", "--dataset", "wheel", "--methods", "raw-pixel 1-NN", "--wheel-per-manifold", "4",
     "--no-figures"],
    ["run", "--per-manifold", "4", "--n-epochs", "1", "--xzx-epochs", "0", "--n-generators", "2"],
])
def test_an_out_path_that_is_a_file_is_one_line_and_status_2(tmp_path, capsys, command):
    a_file = tmp_path / "taken"
    a_file.write_text("keep me")
    for out in (a_file, a_file / "below"):
        assert main([*command, "--out", str(out)]) == 2
        _one_line_error(capsys, str(a_file), "not a folder")
    assert a_file.read_text() == "keep me"


def test_a_missing_data_home_is_one_line_and_status_2(tmp_path, capsys):
    missing = tmp_path / "no_data_here"
    assert main(["bench", "--dataset", "mnist", "--classes", "0", "--methods", "raw-pixel 1-NN",
                 "--data-home", str(missing), "--out", str(tmp_path / "out"), "--no-figures"]) == 2
    _one_line_error(capsys, str(missing))


def test_wheels_rerun_with_fewer_images_leaves_only_the_new_set(tmp_path):
    assert main(["wheels", "--per-manifold", "3", "--size", "32", "--out", str(tmp_path)]) == 0
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["wheels", "--per-manifold", "1", "--size", "32", "--out", str(tmp_path)]) == 0
    listed = {line.split(",")[0] for line in (tmp_path / "labels.csv").read_text().splitlines()[1:]}
    assert len(listed) == 10
    assert {p.name for p in tmp_path.glob("*.png")} == listed
    assert (tmp_path / "notes.txt").read_text() == "mine"  # files it did not write stay
    assert main(["wheels", "--per-manifold", "1", "--size", "32", "--out", str(tmp_path),
                 "--format", "npz"]) == 0
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "labels.csv").exists()


def test_help_texts_show_plain_percent_signs(capsys):
    for command in ("run", "wheels", "bench"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "%%" not in capsys.readouterr().out
