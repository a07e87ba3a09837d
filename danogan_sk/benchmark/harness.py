"""The benchmark loop: every (task, method, seed) run once, recorded, resumable.

Each finished run appends one JSON line per table row and tested class to
``DIR/runs.jsonl`` and saves its test scores (and D-AnoGAN's figure data) to
``DIR/scores/``. Runs may go to worker processes or a cluster
(:mod:`.parallel`); they send their results back and the calling process
alone writes them, each run as it finishes. A run whose rows are all in ``runs.jsonl`` under the same
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
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .data import Budget, Pool, PoolLoader, Task, make_task, task_classes
from .methods import METHODS, TIMING_EPOCHS, Method, score_variants, timed_fit_and_score
from .parallel import Progress, run_unordered

__all__ = ["run_benchmark", "read_runs", "evaluate", "run_key", "compute_run", "RunSpec",
           "RunOutput", "RUNS_FILE", "REPLACED_RUNS_FILE", "epoch_and_fixed_seconds", "outside_window",
           "rescaled_plan"]

RUNS_FILE = "runs.jsonl"
#: Records of first attempts that ``rerun_outside`` replaced by a rerun, kept for the record.
REPLACED_RUNS_FILE = "runs_replaced.jsonl"


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
    """Every record of ``DIR/runs.jsonl`` (an empty list if there is none).

    A last line without its newline (the process writing it was killed) is
    not a record: its run is not done, and runs again.
    """
    path = Path(out) / RUNS_FILE
    if not path.exists():
        return []
    text = path.read_text()
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def _done(out: Path) -> set[tuple]:
    return {_recorded_key(r) for r in read_runs(out)}


class EpochPlan(NamedTuple):
    """What a time budget became: epochs, the seconds spent timing them, and the estimates used.

    ``epoch_seconds`` and ``fixed_seconds`` (one more epoch, the once-per-fit
    work, both at the full training size) are ``None`` when nothing was timed.
    They are recorded with each run, so that a fit that ends far from its
    budget shows which estimate missed, with ``timing_epochs``, the epochs
    of the timing fits the estimates came from (``None`` when none ran).
    """

    epochs: int
    calibration_seconds: float
    epoch_seconds: float | None = None
    fixed_seconds: float | None = None
    timing_epochs: tuple[int, int] | None = None


def _epochs_for(method: Method, seed: int, X: np.ndarray, budget: Budget) -> EpochPlan:
    """Epochs within the budget, and the seconds spent measuring them (0 if none).

    Fits of the method's ``timing_epochs`` (1 and 3 epochs; D-AnoGAN 5 and
    10, so that both have its phase 2 in proportion) on its
    ``calibration_rows`` separate the cost of one more epoch from what a fit
    pays once (building networks, a memory bank, scoring the training data).
    Timing a single epoch would count that fixed cost as epoch time and
    train a method with a large one, such as D-AnoGAN, for a fraction of
    its budget. Both parts are scaled to the full training size, which
    overestimates the fixed part (not all of it grows with the rows), so a
    run stays within its budget. The shorter fit runs twice and the faster
    counts, so that one-off warm-up costs of the process are not taken for
    fixed costs of the method. When the longer fit's extra epochs take less
    than :data:`MIN_TIMED_SECONDS`, both fits run again with proportionally
    more epochs (:func:`longer_timing_factor`): on cheap epochs the noise of
    a short timing misplans hundreds of epochs.
    """
    if not method.iterative or budget.seconds is None:
        return EpochPlan(budget.epochs, 0.0)
    rows = X if method.calibration_rows is None else X[: method.calibration_rows]
    clock = budget.timer
    start = clock()
    epochs = method.timing_epochs
    short_fit, long_fit = _timing_fits(method, seed, rows, clock, epochs)
    factor = longer_timing_factor(long_fit - short_fit, epochs[1], budget.epochs)
    if factor > 1:
        epochs = (epochs[0] * factor, epochs[1] * factor)
        short_fit, long_fit = _timing_fits(method, seed, rows, clock, epochs)
    calibration = clock() - start
    per_epoch, fixed = epoch_and_fixed_seconds(short_fit, long_fit, len(X) / len(rows), epochs)
    return EpochPlan(_epochs_within(budget, per_epoch, fixed), calibration, per_epoch, fixed, epochs)


#: Seconds that the timing fits' extra epochs should take at least; shorter differences are
#: timed again with proportionally more epochs, since timing noise is a larger share of them.
MIN_TIMED_SECONDS = 5.0
#: The most a timing's epochs are multiplied by.
MAX_TIMING_FACTOR = 50


def longer_timing_factor(difference: float, long_epochs: int, budget_epochs: int) -> int:
    """How many times the timing epochs to fit again when their extra epochs took only ``difference`` seconds.

    Enough for :data:`MIN_TIMED_SECONDS`, at most :data:`MAX_TIMING_FACTOR`,
    and never past the budget's epochs; 1 (no second timing) when the
    difference is long enough or no longer timing fits in the budget.

    Examples
    --------
    >>> longer_timing_factor(1.1, 10, 5000)  # cheap epochs: time 5 x as many
    5
    >>> longer_timing_factor(14.0, 10, 500), longer_timing_factor(0.01, 10, 5000), longer_timing_factor(1.0, 3, 7)
    (1, 50, 2)
    """
    if difference >= MIN_TIMED_SECONDS:
        return 1
    wanted = MAX_TIMING_FACTOR if difference <= 0 else int(np.ceil(MIN_TIMED_SECONDS / difference))
    return max(1, min(wanted, MAX_TIMING_FACTOR, budget_epochs // long_epochs))


def _timing_fits(method: Method, seed: int, rows: np.ndarray, clock: Callable[[], float],
                 epochs: tuple[int, int]) -> tuple[float, float]:
    """Seconds of fits of ``epochs`` (short, long); the short one runs twice and the faster counts."""
    short, long = epochs
    short_fit = min(_fit_seconds(method, seed, short, rows, clock) for _ in range(2))
    return short_fit, _fit_seconds(method, seed, long, rows, clock)


def _epochs_within(budget: Budget, per_epoch: float, fixed: float) -> int:
    """The epochs of ``per_epoch`` seconds that fit in the budget after ``fixed``: at least one, at most its epochs."""
    return int(np.clip((budget.seconds - fixed) // per_epoch, 1, budget.epochs))


def outside_window(fit_seconds: float, budget: Budget, tolerance: float | None) -> bool:
    """Whether a fit missed the budget's ``seconds`` by more than ``tolerance`` (a fraction), either way.

    Always ``False`` without a tolerance or a time budget.

    Examples
    --------
    >>> budget = Budget(epochs=500, seconds=300.0)
    >>> outside_window(353.0, budget, 0.15), outside_window(340.0, budget, 0.15)
    (True, False)
    >>> outside_window(250.0, budget, 0.15), outside_window(353.0, budget, None)
    (True, False)
    """
    if tolerance is None or budget.seconds is None:
        return False
    return abs(fit_seconds - budget.seconds) > tolerance * budget.seconds


def _fit_seconds(method: Method, seed: int, epochs: int, X: np.ndarray, clock: Callable[[], float]) -> float:
    start = clock()
    method.make(seed, epochs).fit(X)
    return clock() - start


def epoch_and_fixed_seconds(short_fit: float, long_fit: float, scale: float,
                            epochs: tuple[int, int] = TIMING_EPOCHS) -> tuple[float, float]:
    """Seconds of one more epoch and of the once-per-fit work, from fits of ``epochs`` (short, long).

    Both are scaled by ``scale`` (full rows over timed rows). When the
    long fit is within a tenth of the short fit's time, the difference is
    timing noise rather than epoch cost, and the whole short fit counts as
    epoch time (no fixed part), the cautious reading.

    Examples
    --------
    >>> epoch_and_fixed_seconds(3.0, 5.0, 10.0)  # 1 s per epoch, 2 s once per fit
    (10.0, 20.0)
    >>> epoch_and_fixed_seconds(3.0, 3.2, 10.0)  # noise: all of it is epoch time
    (30.0, 0.0)
    >>> epoch_and_fixed_seconds(7.0, 12.0, 1.0, epochs=(5, 10))  # 1 s per epoch, 2 s once
    (1.0, 2.0)
    """
    short, long = epochs
    per_epoch = (long_fit - short_fit) / (long - short)
    if long_fit - short_fit < short_fit / 10:
        return short_fit / short * scale, 0.0
    return per_epoch * scale, max(0.0, short_fit - short * per_epoch) * scale


def _scores_path(task: Task, key: tuple) -> str:
    """Where a run's scores go, under the results folder; ``key`` is the :func:`run_key` of any of its classes."""
    _, _, method, seed, *settings = key
    digest = hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:8]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in method)
    return f"scores/{task.dataset}_{task.name}_{safe}_seed{seed}_{digest}.npz"


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


@dataclass(frozen=True)
class RunSpec:
    """One run, small enough to ship to a worker: the worker loads the images itself.

    Attributes
    ----------
    seed : int
        Seed of the split and of the method.
    tested : tuple of int
        Class indices the task tests (an entry of :func:`.data.task_classes`).
    method : Method
    budget : Budget
    pool_loader : callable (seed) -> Pool
        Picklable (:class:`.data.PoolLoader` loads from the data home as the
        worker sees it).
    rerun_outside : float or None
        :func:`run_benchmark`'s tolerance of a fit's time.
    """

    seed: int
    tested: tuple[int, ...]
    method: Method
    budget: Budget
    pool_loader: Callable[[int], Pool]
    rerun_outside: float | None = None


@dataclass
class RunOutput:
    """What a worker sends back: the records and the arrays of the scores file (not yet written)."""

    records: list[dict]
    scores_file: str
    arrays: dict[str, np.ndarray]
    label: str
    replaced: list[dict] = field(default_factory=list)


@lru_cache(maxsize=1)
def _pool(loader: Callable[[int], Pool], seed: int) -> Pool:
    """``loader(seed)``, kept while a worker runs the tasks of one seed."""
    return loader(seed)


def compute_run(spec: RunSpec) -> RunOutput:
    """Fit and score one run; writes nothing (the parent does).

    The images come from ``spec.pool_loader`` in the process that runs it,
    cached while consecutive runs share a seed.
    """
    pool = _pool(spec.pool_loader, spec.seed)
    task = make_task(pool, spec.tested, spec.seed, spec.budget.max_train)
    return _run_one(task, spec.method, spec.seed, spec.budget, pool.settings, spec.rerun_outside)


def _run_one(task: Task, method: Method, seed: int, budget: Budget, data: dict,
             rerun_outside: float | None = None) -> RunOutput:
    """One run; with ``rerun_outside``, a second one if the first fit missed its time budget.

    A fit can run far over or under its budget because other work shared
    the CPU while it was timed or trained, or because fits of 1 and 3
    epochs misjudged an epoch's cost. Such a fit is repeated once, with
    epochs planned from the first fit's own cost per epoch
    (:func:`rescaled_plan`), and the repeat stands whatever its time or
    AUC: which runs are repeated depends on fit times alone. A fit that
    ended early because it reached ``budget.epochs`` is not repeated.
    """
    output = _attempt(task, method, seed, budget, data)
    first = output.records[0]
    if method.iterative and _missed_budget(first, budget, rerun_outside):
        # The scores file will hold the rerun's scores, so the first records point nowhere.
        replaced = [dict(record, scores_file=None) for record in output.records]
        plan = rescaled_plan(first["epochs"], first["fit_seconds"], first["fixed_seconds_estimate"], budget)
        output = _attempt(task, method, seed, budget, data, plan)
        for record in output.records:
            record["attempt"] = 2
        output.replaced = replaced
    return output


def rescaled_plan(epochs: int, fit_seconds: float, fixed_seconds: float | None, budget: Budget) -> EpochPlan:
    """The epochs of a rerun, from a first fit of ``epochs`` that took ``fit_seconds``.

    The first fit measured, at the full training size, what the short
    timing fits only estimate: its epochs' cost beyond ``fixed_seconds``
    (the timing's once-per-fit estimate), including any work that grows
    with the epochs but that the short timing fits do not show (a front
    end's cost can hide an epoch's in timing noise; the load of the machine
    while they ran). A fit that missed its budget for such a reason would
    miss it again if timed again. The plan records the first fit's
    cost per epoch as ``epoch_seconds`` and spends nothing on timing.

    Examples
    --------
    >>> budget = Budget(epochs=5000, seconds=300.0)
    >>> rescaled_plan(1200, 620.0, 20.0, budget).epochs  # 0.5 s an epoch, more than the timing said
    560
    >>> rescaled_plan(242, 25.6, 0.9, budget).epochs  # a timing that took a fixed cost for epochs
    2930
    >>> rescaled_plan(4000, 30.0, 0.0, budget).epochs  # never past the budget's epochs
    5000
    """
    fixed = min(fixed_seconds or 0.0, fit_seconds / 2)  # at most half of what the fit took
    per_epoch = (fit_seconds - fixed) / epochs
    return EpochPlan(_epochs_within(budget, per_epoch, fixed), 0.0, per_epoch, fixed)


def _missed_budget(record: dict, budget: Budget, tolerance: float | None) -> bool:
    """Whether an iterative run's fit ended outside its time window for want of time, not of epochs."""
    # A fit that trained the budget's every epoch and ended early had nothing more to do in the time.
    trained_every_epoch = record["epochs"] >= budget.epochs and record["fit_seconds"] < (budget.seconds or 0.0)
    return not trained_every_epoch and outside_window(record["fit_seconds"], budget, tolerance)


def _attempt(task: Task, method: Method, seed: int, budget: Budget, data: dict,
             plan: EpochPlan | None = None) -> RunOutput:
    import torch

    threads = torch.get_num_threads()
    plan = plan or _epochs_for(method, seed, task.X_train, budget)
    model = method.make(seed, plan.epochs)
    (rows, grid), fit_seconds, score_seconds = timed_fit_and_score(
        model, task.X_train, task.X_test, lambda fitted, X: score_variants(fitted, method.name, X), budget.timer
    )
    params = model.record_params() if hasattr(model, "record_params") else {}

    arrays = {f"row:{name}": s for name, s in rows.items()}
    arrays.update({f"alpha:{a}": s for a, s in grid.items()})
    if hasattr(model, "figure_data"):
        arrays.update({f"fig:{k}": v for k, v in model.figure_data(task.X_test, task.y_test).items()})
    arrays.update({"y_test": task.y_test, **{f"mask:{c}": m for c, m in task.masks.items()}})
    key = run_key(task.dataset, task.classes[0], method, seed, budget, data)
    budget_key, data_key, method_key = key[4:]
    scores_file = _scores_path(task, key)

    records = []
    for anomaly_class, mask in task.masks.items():
        y = task.y_test[mask]
        alpha_auc = {str(a): evaluate(y, s[mask])["auc"] for a, s in grid.items()}
        own = task.own_design_masks.get(anomaly_class)
        for row, scores in rows.items():
            records.append({
                "dataset": task.dataset,
                "anomaly_class": anomaly_class,
                "method": method.name,
                "row": row,
                "seed": int(seed),
                **evaluate(y, scores[mask]),
                # Against the anomaly's own design only (Wheel presets): the fault, not the design.
                "auc_own_design": None if own is None else evaluate(task.y_test[own], scores[own])["auc"],
                "fit_seconds": fit_seconds,
                "score_seconds": score_seconds,
                "clock": budget.clock,
                "calibration_seconds": plan.calibration_seconds,
                "timing_epochs": list(plan.timing_epochs) if plan.timing_epochs else None,
                "epoch_seconds_estimate": plan.epoch_seconds,
                "fixed_seconds_estimate": plan.fixed_seconds,
                "torch_threads": threads,
                "epochs": plan.epochs if method.iterative else None,
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
                "scores_file": scores_file,
                "attempt": 1,
            })
    return RunOutput(records, scores_file, arrays, _label(task.dataset, task.name, method.name, seed))


def _write_run(out: Path, output: RunOutput) -> None:
    """Save a finished run's scores, then append its records to ``runs.jsonl`` in one write.

    Records of a first attempt that a rerun replaced go to :data:`REPLACED_RUNS_FILE` before.
    """
    path = out / output.scores_file
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **output.arrays)
    if output.replaced:
        _append_records(out / REPLACED_RUNS_FILE, output.replaced)
    _append_records(out / RUNS_FILE, output.records)


def _append_records(path: Path, records: list[dict]) -> None:
    lines = "".join(json.dumps(record, default=_jsonable) + "\n" for record in records)
    with open(path, "a") as handle:
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


def run_benchmark(
    dataset: str,
    methods: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    budget: Budget = Budget(),
    classes: Sequence[int] | None = None,
    pool_loader: Callable[[int], Pool] | None = None,
    progress: Callable[[str], None] | None = None,
    n_jobs: int = 1,
    threads: int | None = None,
    rerun_outside: float | None = None,
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
        Where the images come from; default :class:`.data.PoolLoader` of
        ``dataset`` from the default data home. It is called here to list
        the tasks, and again by whichever process runs a task: with
        ``n_jobs != 1`` it must be picklable (by cloudpickle).
    progress : callable (str) -> None, optional
        Receives one line per run; default prints to stderr.
    n_jobs : int, default=1
        Runs at a time, through ``joblib.Parallel`` and the active joblib
        backend (loky processes unless ``joblib.parallel_config`` says
        otherwise); -1 for every worker of the backend. Each local worker
        gets ``max(1, cores // n_jobs)`` torch threads unless ``threads``
        says otherwise. Every run has the seeds it has in a serial
        benchmark; this process alone writes ``out``, one run at a time as
        each finishes.
    threads : int or None
        Torch threads of every run (recorded as ``torch_threads``). Methods
        that train with torch round differently with another thread count,
        and a GAN's weights then drift apart: with ``threads`` fixed, the
        results do not depend on ``n_jobs``.
    rerun_outside : float or None
        With a time budget, an iterative run whose fit took more than
        ``budget.seconds * (1 + rerun_outside)`` or less than
        ``budget.seconds * (1 - rerun_outside)`` seconds (other work shared
        the machine while it was timed or trained, or the timing misjudged
        an epoch's cost) is run again once, right away, with epochs planned
        from the first fit's cost per epoch (:func:`rescaled_plan`); the
        second run is recorded whatever its time, and the first one's
        records go to ``runs_replaced.jsonl``. ``None`` (default) keeps
        every first run.

    Returns
    -------
    list of dict
        Every record in ``out`` after the runs (old and new).

    Examples
    --------
    >>> from danogan_sk.benchmark import run_benchmark, Budget
    >>> run_benchmark("mnist", ["raw-pixel 1-NN", "IForest"], [0], "bench_out",
    ...               Budget(epochs=1), classes=[0, 1], n_jobs=2)  # doctest: +SKIP
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if rerun_outside is not None:
        if budget.seconds is None:
            raise ValueError("rerun_outside needs a time budget: set budget.seconds")
        if not rerun_outside > 0:
            raise ValueError(f"rerun_outside must be a positive fraction of the budget, got {rerun_outside}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loader = pool_loader or PoolLoader(dataset)
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    to_run = []
    for spec, label, done in _grid(methods, seeds, budget, classes, loader, _done(out), rerun_outside):
        if done:
            say(f"{label}: done before, skipped")
        else:
            to_run.append(spec)
    counter = Progress(len(to_run))
    for output in run_unordered(compute_run, to_run, n_jobs, threads):
        _write_run(out, output)
        first = output.records[0]
        rerun = (f" (rerun once: the first fit took {output.replaced[0]['fit_seconds']:.1f} s)"
                 if output.replaced else "")
        say(f"{counter.finish()} {output.label}: fit {first['fit_seconds']:.1f} s{rerun}, "
            f"score {first['score_seconds']:.1f} s; {_auc_summary(output.records)}")
    return read_runs(out)


def _label(dataset: str, task_name: str, method: str, seed: int) -> str:
    return f"{dataset} class {task_name}, {method}, seed {seed}"


def _grid(methods: Sequence[str], seeds: Sequence[int], budget: Budget,
          classes: Sequence[int] | None, loader: Callable[[int], Pool], done: set[tuple],
          rerun_outside: float | None = None):
    """``(spec, label, done before)`` of every run, in the order a serial benchmark runs them.

    The pool of the first seed lists the tasks (its classes and settings do
    not depend on the seed); a serial benchmark then runs on it first, so
    every seed's pool is loaded once.
    """
    count = 0
    pool = _pool(loader, seeds[0]) if seeds else None
    for seed in seeds:
        for tested in task_classes(pool, classes):
            names = [pool.class_names[c] for c in tested]
            for name in methods:
                method = METHODS[name]
                keys = {run_key(pool.dataset, c, method, seed, budget, pool.settings) for c in names}
                count += 1
                label = f"[{count}] {_label(pool.dataset, '+'.join(names), name, seed)}"
                yield RunSpec(seed, tested, method, budget, loader, rerun_outside), label, keys <= done


def _auc_summary(records: list[dict]) -> str:
    """Each record's AUC after its class and table row."""
    return "; ".join(f"{r['anomaly_class']}: {r['row']} AUC {r['auc']:.3f}" for r in records)
