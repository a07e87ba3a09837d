"""The benchmark grid on a real Dask cluster (two worker processes started here)."""

from __future__ import annotations

import pytest

from danogan_sk.benchmark import Budget, harness, run_benchmark
from danogan_sk.benchmark.data import PoolLoader
from danogan_sk.cli import main

distributed = pytest.importorskip(
    "distributed", reason="the dask extra is not installed: pip install 'danogan-sk[dask]'"
)

WHEEL_ARGS = ["--dataset", "wheel", "--wheel-per-manifold", "20", "--epochs", "1", "--no-figures"]
METHODS = ["raw-pixel 1-NN", "IForest", "KNN", "D-AnoGAN"]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes and a scheduler; closed whatever the tests do."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as local_cluster:
        yield local_cluster


def _aucs(records: list[dict]) -> dict[tuple, float]:
    return {(r["method"], r["row"], r["anomaly_class"], r["seed"]): r["auc"] for r in records}


def test_bench_on_a_dask_cluster_gives_the_serial_results(tmp_path, cluster, capsys):
    out = tmp_path / "dask"
    args = ["bench", *WHEEL_ARGS, "--methods", *METHODS, "--seeds", "0", "1", "--out", str(out),
            "--threads", "1", "--backend", "dask", "--scheduler", cluster.scheduler_address]
    assert main(args) == 0
    assert "[8/8, done]" in capsys.readouterr().err
    serial = run_benchmark("wheel", METHODS, [0, 1], tmp_path / "serial", Budget(epochs=1),
                           pool_loader=PoolLoader("wheel", wheel_per_manifold=20),
                           progress=lambda line: None, threads=1)
    on_cluster = harness.read_runs(out)
    assert len(on_cluster) == len(serial) and _aucs(on_cluster) == _aucs(serial)
    assert main(args) == 0  # resumed: every run done
    assert capsys.readouterr().err.count("done before, skipped") == 8


def test_dask_needs_a_scheduler_address(tmp_path, capsys):
    args = ["bench", *WHEEL_ARGS, "--methods", "KNN", "--out", str(tmp_path), "--backend", "dask"]
    assert main(args) == 2
    assert "--backend dask needs --scheduler ADDRESS" in capsys.readouterr().err
