"""The benchmark loop: every (task, method, seed) run once, recorded, resumable.

Each finished run appends one JSON line per table row and tested class to
``DIR/runs.jsonl`` and saves its test scores (and D-AnoGAN's figure data) to
``DIR/scores/``; a run whose rows are all in ``runs.jsonl`` under the same
:func:`run_key` (data set settings, budget, method parameters and package
versions) is skipped, so an interrupted benchmark continues where it
stopped, and a changed setting is a new run. AUC and average
precision are computed by scikit-learn on the test labels of
:class:`~danogan_sk.datasets.AnomalySplit` (1 = anomaly) and scores where
higher means more anomalous. No epoch, threshold or alpha is chosen on them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .data import Budget, Pool, Task, make_tasks
from .methods import METHODS, Method, score_variants, timed_fit_and_score

__all__ = ["run_benchmark", "read_runs", "evaluate", "run_key", "RUNS_FILE"]

RUNS_FILE = "runs.jsonl"
#: Rows of the training data timed to turn a time budget into epochs.
_CALIBRATION_ROWS = 512


def evaluate(y_true: np.ndarray, anomaly_scores: np.ndarray) -> dict[str, float]:
    """ROC AUC and average precision of anomaly scores (higher = more anomalous, y 1 = anomaly).

    Examples
    --------
    >>> evaluate(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    {'auc': 1.0, 'average_precision': 1.0}
    """
    return {
        "auc": float(roc_auc_score(y_true, anomaly_scores)),
        "average_precision": float(average_precision_score(y_true, anomaly_scores)),
    }


def run_key(dataset: str, anomaly_class: str, method: Method, seed: int, budget: Budget,
            data: dict | None = None) -> tuple:
    """What identifies a run across invocations: everything that changes its result.

    Parameters
    ----------
    dataset, anomaly_class : str
    method : Method
        Its name, :attr:`~.methods.Method.key` (parameters, package versions)
        and, if it trains, the budget's epochs and time.
    seed : int
    budget : Budget
    data : dict, optional
        :attr:`.data.Pool.settings` of the images.
    """
    return (dataset, str(anomaly_class), method.name, int(seed), budget.key_for(method.iterative),
            _data_key(data or {}), method.key)


def _data_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True)


def _recorded_key(record: dict) -> tuple:
    """:func:`run_key` of a record (records written before a field was keyed match no run)."""
    return (record["dataset"], record["anomaly_class"], record["method"], record["seed"],
            record["budget_key"], record.get("data_key"), record.get("method_key"))


def read_runs(out: str | Path) -> list[dict]:
    """Every record of ``DIR/runs.jsonl`` (an empty list if there is none)."""
    path = Path(out) / RUNS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _done(out: Path) -> set[tuple]:
    return {_recorded_key(r) for r in read_runs(out)}


def _epochs_for(method: Method, seed: int, X: np.ndarray, budget: Budget) -> tuple[int, float]:
    """Epochs within the budget, and the seconds spent measuring one epoch (0 if none)."""
    if not method.iterative or budget.seconds is None:
        return budget.epochs, 0.0
    rows = X[: min(len(X), _CALIBRATION_ROWS)]
    start = time.perf_counter()
    method.make(seed, 1).fit(rows)
    calibration = time.perf_counter() - start
    per_epoch = calibration * len(X) / len(rows)
    return int(np.clip(budget.seconds // per_epoch, 1, budget.epochs)), calibration


def _scores_path(out: Path, task: Task, key: tuple) -> Path:
    """Where a run's scores go; ``key`` is the :func:`run_key` of any of its classes."""
    _, _, method, seed, *settings = key
    digest = hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:8]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in method)
    return out / "scores" / f"{task.dataset}_{task.name}_{safe}_seed{seed}_{digest}.npz"


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _run_one(task: Task, method: Method, seed: int, budget: Budget, out: Path,
             data: dict) -> list[dict]:
    epochs, calibration = _epochs_for(method, seed, task.X_train, budget)
    model = method.make(seed, epochs)
    (rows, grid), fit_seconds, score_seconds = timed_fit_and_score(
        model, task.X_train, task.X_test, lambda fitted, X: score_variants(fitted, method.name, X)
    )
    params = model.record_params() if hasattr(model, "record_params") else {}

    arrays = {f"row:{name}": s for name, s in rows.items()}
    arrays.update({f"alpha:{a}": s for a, s in grid.items()})
    if hasattr(model, "figure_data"):
        arrays.update({f"fig:{k}": v for k, v in model.figure_data(task.X_test, task.y_test).items()})
    key = run_key(task.dataset, task.classes[0], method, seed, budget, data)
    budget_key, data_key, method_key = key[4:]
    path = _scores_path(out, task, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, y_test=task.y_test, **{f"mask:{c}": m for c, m in task.masks.items()}, **arrays)

    records = []
    for anomaly_class, mask in task.masks.items():
        y = task.y_test[mask]
        alpha_auc = {str(a): evaluate(y, s[mask])["auc"] for a, s in grid.items()}
        for row, scores in rows.items():
            records.append({
                "dataset": task.dataset,
                "anomaly_class": anomaly_class,
                "method": method.name,
                "row": row,
                "seed": int(seed),
                **evaluate(y, scores[mask]),
                "fit_seconds": fit_seconds,
                "score_seconds": score_seconds,
                "calibration_seconds": calibration,
                "epochs": epochs if method.iterative else None,
                "n_train": int(len(task.X_train)),
                "n_test": int(mask.sum()),
                "n_test_anomalies": int(y.sum()),
                "budget_key": budget_key,
                "budget": json.loads(budget_key),
                "data_key": data_key,
                "data": data,
                "method_key": method_key,
                "params": params,
                "alpha_auc": alpha_auc,
                "scores_file": str(path.relative_to(out)),
            })
    return records


def run_benchmark(
    dataset: str,
    methods: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    budget: Budget = Budget(),
    classes: Sequence[int] | None = None,
    pool_loader: Callable[[int], Pool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run every method on every task and seed; skip runs already recorded.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "wheel"}
    methods : sequence of str
        Keys of :data:`~danogan_sk.benchmark.methods.METHODS`.
    seeds : sequence of int
        Seeds of the split and of every method.
    out : path
        Results folder; created if needed.
    budget : Budget
        Epochs, time and training-size bounds of each run.
    classes : sequence of int or None
        Held-out classes (MNIST, Fashion-MNIST) or anomalous manifolds
        (Wheel) to run; ``None`` for all.
    pool_loader : callable (seed) -> Pool, optional
        Where the images come from; default :func:`.data.load_pool` of
        ``dataset`` from the default data home.
    progress : callable (str) -> None, optional
        Receives one line per run; default prints to stderr.

    Returns
    -------
    list of dict
        Every record in ``out`` after the runs (old and new).

    Examples
    --------
    >>> from danogan_sk.benchmark import run_benchmark, Budget
    >>> run_benchmark("mnist", ["raw-pixel 1-NN", "IForest"], [0], "bench_out",
    ...               Budget(epochs=1), classes=[0, 1])  # doctest: +SKIP
    """
    from .data import load_pool

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loader = pool_loader or (lambda seed: load_pool(dataset, seed))
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    done = _done(out)
    count = 0
    for seed in seeds:
        pool = loader(seed)
        for task in make_tasks(pool, classes, seed, budget.max_train):
            for name in methods:
                method = METHODS[name]
                keys = {run_key(task.dataset, c, method, seed, budget, pool.settings)
                        for c in task.classes}
                count += 1
                label = f"[{count}] {task.dataset} class {task.name}, {name}, seed {seed}"
                if keys <= done:
                    say(f"{label}: done before, skipped")
                    continue
                records = _run_one(task, method, seed, budget, out, pool.settings)
                with open(out / RUNS_FILE, "a") as handle:
                    for record in records:
                        handle.write(json.dumps(record, default=_jsonable) + "\n")
                done |= keys
                say(f"{label}: fit {records[0]['fit_seconds']:.1f} s, "
                    f"score {records[0]['score_seconds']:.1f} s; {_auc_summary(records)}")
    return read_runs(out)


def _auc_summary(records: list[dict]) -> str:
    """Each record's AUC after its class and table row."""
    return "; ".join(f"{r['anomaly_class']}: {r['row']} AUC {r['auc']:.3f}" for r in records)
