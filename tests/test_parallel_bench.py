"""The benchmark grid on several worker processes: the serial results, one writer, resumable."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from danogan_sk.benchmark import METHODS, Budget, Method, harness, run_benchmark
from danogan_sk.benchmark.dagan import DAnoGANModel
from danogan_sk.benchmark.data import PoolLoader
from danogan_sk.benchmark.methods import RawPixelNN
from danogan_sk.cli import main

#: Wheel at its smallest: 20 images per manifold, one task per seed.
WHEEL = PoolLoader("wheel", wheel_per_manifold=20)
TINY_DANOGAN = Method("D-AnoGAN tiny", lambda seed, epochs: DAnoGANModel(
    seed, epochs, label="D-AnoGAN tiny", n_generators=2, batch_size=32, memory_bank_size=0,
    neighbor_weight=0.0, latent_weight=0.0), True, "")


def _aucs(records: list[dict]) -> dict[tuple, float]:
    return {(r["method"], r["row"], r["anomaly_class"], r["seed"]): r["auc"] for r in records}


def _bench(out: Path, methods: list[str], seeds: list[int], n_jobs: int,
           threads: int | None = None) -> tuple[list[dict], list[str]]:
    lines: list[str] = []
    records = run_benchmark("wheel", methods, seeds, out, Budget(epochs=1), None,
                            pool_loader=WHEEL, progress=lines.append, n_jobs=n_jobs, threads=threads)
    return records, lines


def test_two_jobs_give_the_serial_aucs(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "METHODS", {**METHODS, TINY_DANOGAN.name: TINY_DANOGAN})
    methods = ["raw-pixel 1-NN", "IForest", "KNN", TINY_DANOGAN.name]
    # One torch thread per run in both: torch rounds by thread count, and a GAN amplifies it.
    serial, _ = _bench(tmp_path / "serial", methods, [0], n_jobs=1, threads=1)
    parallel, lines = _bench(tmp_path / "parallel", methods, [0], n_jobs=2, threads=1)
    assert len(serial) == len(parallel) > 2 * len(methods)
    assert _aucs(parallel) == _aucs(serial)
    assert {r["torch_threads"] for r in serial + parallel} == {1}
    # Progress counts finished runs out of the runs to do, with the time left.
    assert lines[0].startswith("[1/4, about ") and lines[-1].startswith("[4/4, done]")
    # One JSON record per line, whole.
    text = (tmp_path / "parallel" / harness.RUNS_FILE).read_text()
    assert len([json.loads(line) for line in text.splitlines()]) == len(parallel)


def _flaky(flag: Path, seed: int, epochs: int) -> RawPixelNN:
    """1-NN that fails for seed 1 while ``flag`` exists."""
    if seed == 1 and flag.exists():
        raise RuntimeError("injected failure of the seed-1 run")
    return RawPixelNN()


def test_a_failing_run_leaves_valid_results_and_a_rerun_completes_the_grid(tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    flag.touch()
    flaky = Method("flaky 1-NN", functools.partial(_flaky, flag), False, "")
    monkeypatch.setattr(harness, "METHODS", {**METHODS, flaky.name: flaky})
    out = tmp_path / "out"
    methods = ["raw-pixel 1-NN", flaky.name]
    with pytest.raises(RuntimeError, match="injected failure"):
        _bench(out, methods, [0, 1, 2], n_jobs=2)
    before = harness.read_runs(out)  # every line parses
    finished = {(r["method"], r["seed"]) for r in before}
    assert (flaky.name, 1) not in finished

    flag.unlink()
    after, lines = _bench(out, methods, [0, 1, 2], n_jobs=2)
    assert after[: len(before)] == before  # finished runs kept, not recomputed
    assert sum(line.endswith("skipped") for line in lines) == len(finished)
    assert {(r["method"], r["seed"]) for r in after} == {(m, s) for m in methods for s in (0, 1, 2)}
    assert len(after) == 2 * 6  # two anomalous manifolds per run, each run once


def test_cli_bench_takes_n_jobs_and_threads(tmp_path, capsys):
    args = ["bench", "--dataset", "wheel", "--methods", "raw-pixel 1-NN", "IForest", "--seeds", "0",
            "--wheel-per-manifold", "12", "--out", str(tmp_path), "--no-figures",
            "--n-jobs", "2", "--threads", "1"]
    assert main(args) == 0
    assert "[2/2, done]" in capsys.readouterr().err
    assert {r["torch_threads"] for r in harness.read_runs(tmp_path)} == {1}


def test_a_run_ships_a_loader_not_the_images():
    cloudpickle = pytest.importorskip("cloudpickle", reason="joblib ships runs with cloudpickle")
    spec = harness.RunSpec(0, (8, 9), METHODS["KNN"], Budget(epochs=1), WHEEL)
    shipped = len(cloudpickle.dumps(spec))  # what joblib sends to a worker
    assert shipped < 20_000 and shipped < WHEEL(0).X.nbytes / 10


def test_importing_the_package_imports_no_cluster_engine():
    code = ("import sys, danogan_sk, danogan_sk.cli, danogan_sk.benchmark; "
            "print(sorted({'dask', 'distributed', 'ray'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_ray_backend_without_ray_is_a_clear_error(tmp_path, capsys):
    try:
        import ray  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("Ray is installed")
    args = ["bench", "--dataset", "wheel", "--methods", "KNN", "--out", str(tmp_path),
            "--backend", "ray"]
    assert main(args) == 2
    assert "--backend ray needs Ray, which is not installed" in capsys.readouterr().err
