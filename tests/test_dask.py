"""The benchmark grid and a grid search on a real Dask cluster (two worker processes started here)."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from conftest import single_thread
from danogan_sk import DAnoGANDetector
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
    args = ["bench", *WHEEL_ARGS, "--methods", *METHODS, "--seeds", "0", "--out", str(out),
            "--threads", "1", "--backend", "dask", "--scheduler", cluster.scheduler_address]
    assert main(args) == 0
    assert "[4/4, done]" in capsys.readouterr().err
    serial = run_benchmark("wheel", METHODS, [0], tmp_path / "serial", Budget(epochs=1),
                           pool_loader=PoolLoader("wheel", wheel_per_manifold=20),
                           progress=lambda line: None, threads=1)
    on_cluster = harness.read_runs(out)
    assert len(on_cluster) == len(serial) and _aucs(on_cluster) == _aucs(serial)
    assert main(args) == 0  # resumed: every run done
    assert capsys.readouterr().err.count("done before, skipped") == 4


def test_dask_needs_a_scheduler_address(tmp_path, capsys):
    args = ["bench", *WHEEL_ARGS, "--methods", "KNN", "--out", str(tmp_path), "--backend", "dask"]
    assert main(args) == 2
    assert "--backend dask needs --scheduler ADDRESS" in capsys.readouterr().err


class _CountingDetector(DAnoGANDetector):
    """A detector that leaves one file in ``<memory>/trainings`` each time it really trains."""

    def _cached(self, train):
        folder = Path(self.memory) / "trainings"

        @functools.wraps(train)  # the cache entry is still the training function's
        def counted(*args, **kwargs):
            folder.mkdir(exist_ok=True)
            (folder / uuid.uuid4().hex).touch()
            return train(*args, **kwargs)

        return super()._cached(counted)


def _search_data():
    """Two separated blobs of normal rows, then scattered anomalies; two normal-only training folds."""
    rng = np.random.default_rng(0)
    centers = np.array([[-3.0] * 5, [3.0] * 5])
    X = np.vstack([centers[rng.integers(0, 2, 60)] + rng.normal(size=(60, 5)),
                   rng.uniform(-8, 8, size=(20, 5))])
    y = np.r_[np.ones(60), -np.ones(20)]
    cv = [(np.arange(0, 30), np.r_[np.arange(30, 60), np.arange(60, 80)]),
          (np.arange(30, 60), np.r_[np.arange(0, 30), np.arange(60, 80)])]
    return X, y, cv


def _search(memory: Path, cv, n_jobs: int) -> GridSearchCV:
    detector = _CountingDetector(n_generators=2, latent_dim=3, n_epochs=2, xzx_epochs=1,
                                 batch_size=16, memory=str(memory), random_state=0)
    return GridSearchCV(detector, {"alpha": [0.0, 0.3, 0.7, 1.0]}, cv=cv, scoring="roc_auc",
                        refit=False, n_jobs=n_jobs)


def test_grid_search_on_dask_trains_once_per_fold_and_matches_serial(tmp_path, cluster):
    X, y, cv = _search_data()
    with distributed.Client(cluster) as client:
        # Dask starts its workers with one torch thread; the serial search uses one too.
        assert set(client.run(torch.get_num_threads).values()) == {1}
        with joblib.parallel_config(backend="dask"):
            on_cluster = _search(tmp_path / "dask", cv, n_jobs=-1).fit(X, y)
    with single_thread():  # one torch thread, as in a Dask worker
        serial = _search(tmp_path / "serial", cv, n_jobs=1).fit(X, y)
    for search in (serial, on_cluster):
        memory = Path(search.estimator.memory)
        assert len(list((memory / "trainings").iterdir())) == len(cv)
    assert on_cluster.best_params_ == serial.best_params_
    np.testing.assert_allclose(on_cluster.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])


def _tensor_devices(detector: DAnoGANDetector) -> set[str]:
    return {t.device.type for t in detector.networks_.state_dict().values()}


def _tiny_fit(rows: np.ndarray) -> DAnoGANDetector:
    return DAnoGANDetector(n_generators=2, latent_dim=3, n_epochs=1, xzx_epochs=1, batch_size=16,
                           random_state=0, device="cpu").fit(rows)


def test_a_fitted_detector_travels_through_the_cluster_on_cpu(cluster):
    X, _, _ = _search_data()
    with single_thread():  # one torch thread, as in a Dask worker
        local = _tiny_fit(X)
    with distributed.Client(cluster) as client:
        # Sent to a worker and scored there; fitted on a worker and sent back.
        remote_scores, remote_devices = client.submit(
            lambda detector, rows: (detector.score_samples(rows), _tensor_devices(detector)),
            local, X).result(timeout=60)
        fitted = client.submit(_tiny_fit, X).result(timeout=120)
    assert remote_devices == _tensor_devices(fitted) == {"cpu"}
    np.testing.assert_allclose(remote_scores, local.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(fitted.score_samples(X), local.score_samples(X), rtol=1e-6)
