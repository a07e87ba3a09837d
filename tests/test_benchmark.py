"""The benchmark harness end to end on tiny synthetic pools, plus one real-data check."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from danogan_sk.benchmark import METHODS, Budget, Method, Pool, load_pool, make_tasks, run_benchmark
from danogan_sk.benchmark import harness
from danogan_sk.benchmark.dagan import phase2_epochs, validation_alpha
from danogan_sk.benchmark.methods import DANOGAN_TIMING_EPOCHS, THESIS_METHOD
from danogan_sk.benchmark.tables import ORACLE_ROW, write_results


def _toy_pool(n_per_class: int = 40, side: int = 8) -> Pool:
    """Three classes of small images; class c has mean brightness 0.2 + 0.3 c."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n_per_class)
    X = np.clip(0.2 + 0.3 * y[:, None, None] + 0.05 * rng.normal(size=(len(y), side, side)), 0, 1)
    return Pool("toy", X.astype(np.float32), y, ["a", "b", "c"])


class _Brightness:
    """Scores by mean brightness, times ``sign``: perfect or inverted on class "c"."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def fit(self, X):
        return self

    def anomaly_score(self, X):
        return self.sign * X.reshape(len(X), -1).mean(axis=1)


@pytest.fixture
def scorers(monkeypatch):
    fake = {
        "perfect": Method("perfect", lambda seed, epochs: _Brightness(1.0), False, ""),
        "inverted": Method("inverted", lambda seed, epochs: _Brightness(-1.0), False, ""),
    }
    monkeypatch.setattr(harness, "METHODS", {**METHODS, **fake})
    return fake


def _run(out, methods, classes=(0, 2), **kwargs):
    lines = []
    records = run_benchmark("toy", methods, [0], out, Budget(epochs=1), list(classes),
                            pool_loader=lambda seed: _toy_pool(), progress=lines.append, **kwargs)
    return records, lines


def test_known_perfect_and_inverted_scorers(tmp_path, scorers):
    records, _ = _run(tmp_path, ["perfect", "inverted"], classes=[2])
    auc = {r["method"]: r["auc"] for r in records}
    assert auc == {"perfect": 1.0, "inverted": 0.0}
    # The AUC is sklearn's on the saved test labels and scores.
    for record in records:
        saved = np.load(tmp_path / record["scores_file"])
        mask = saved["mask:c"]
        expected = roc_auc_score(saved["y_test"][mask], saved[f"row:{record['row']}"][mask])
        assert record["auc"] == expected
        assert saved["y_test"].sum() == record["n_test_anomalies"] == 40


def test_harness_writes_files_a_table_and_resumes(tmp_path):
    methods = ["raw-pixel 1-NN", "IForest"]
    records, lines = _run(tmp_path, methods)
    assert len(records) == 4 and all(0.0 <= r["auc"] <= 1.0 for r in records)
    assert {(r["anomaly_class"], r["method"]) for r in records} == {
        (c, m) for c in ("a", "c") for m in methods
    }
    written = write_results(records, tmp_path)
    assert {p.name for p in written} == {"results.csv", "results.json", "table_toy.md"}
    table = (tmp_path / "table_toy.md").read_text().strip().splitlines()
    assert table[0] == "| toy | a | c | mean | fit s |"
    assert all(line.count("|") == table[0].count("|") for line in table)
    assert [line.split("|")[1].strip() for line in table[2:]] == methods
    assert "**" in table[2]  # the 1-NN floor wins at least one column here

    before = (tmp_path / "runs.jsonl").read_text()
    again, lines = _run(tmp_path, methods)
    assert (tmp_path / "runs.jsonl").read_text() == before
    assert all(line.endswith("skipped") for line in lines) and len(lines) == 4
    assert again == records


def test_a_new_budget_is_a_new_run(tmp_path):
    _run(tmp_path, ["raw-pixel 1-NN"], classes=[0])
    lines = []
    run_benchmark("toy", ["raw-pixel 1-NN"], [0], tmp_path, Budget(epochs=1, max_train=50), [0],
                  pool_loader=lambda seed: _toy_pool(), progress=lines.append)
    assert not lines[0].endswith("skipped")
    assert len(harness.read_runs(tmp_path)) == 2


def test_time_budget_sets_epochs_from_a_timed_epoch():
    method = Method("slow", lambda seed, epochs: _Brightness(1.0), True, "")
    X = np.zeros((4096, 1, 2, 2), dtype=np.float32)
    assert harness._epochs_for(method, 0, X, Budget(epochs=7))[0] == 7
    assert harness._epochs_for(method, 0, X, Budget(epochs=7, seconds=1e-12))[0] == 1
    assert harness._epochs_for(method, 0, X, Budget(epochs=7, seconds=1e6))[0] == 7


def test_time_budget_counts_a_fit_s_fixed_cost_once(monkeypatch):
    # A method paying 0.2 s once per fit and 0.02 s per epoch and 1,024 rows:
    # on 4,096 rows a 2.04 s budget holds (2.04 - 4 * 0.2) / (4 * 0.02) = 15.5 epochs.
    # Timing one whole epoch would have counted the fixed cost every epoch (2 epochs).
    fit_seconds = lambda method, seed, epochs, X, clock: 0.2 + 0.02 * epochs * len(X) / 1024  # noqa: E731
    monkeypatch.setattr(harness, "_fit_seconds", fit_seconds)
    method = Method("slow", lambda seed, epochs: _Brightness(1.0), True, "")
    X = np.zeros((4096, 1, 2, 2), dtype=np.float32)
    plan = harness._epochs_for(method, 0, X, Budget(epochs=100, seconds=2.04))
    assert plan.epochs == 15
    assert (plan.epoch_seconds, plan.fixed_seconds) == pytest.approx((0.08, 0.8))
    assert harness._epochs_for(method, 0, X, Budget(epochs=10, seconds=2.04))[0] == 10


def test_d_anogan_s_budget_timing_counts_its_phase_2(monkeypatch):
    # Phase 1 costs 2 s an epoch, phase 2 (a fifth of the epochs, at least one) 4 s,
    # once per fit 20 s: 100 epochs cost 20 + 200 + 20 * 4 = 300 s.
    def fit_seconds(method, seed, epochs, X, clock):
        return 20.0 + 2.0 * epochs + 4.0 * phase2_epochs(epochs)

    monkeypatch.setattr(harness, "_fit_seconds", fit_seconds)
    X = np.zeros((1024, 1, 2, 2), dtype=np.float32)
    budget = Budget(epochs=1000, seconds=301.4)  # 100.5 epochs' worth: no rounding decides
    make = lambda seed, epochs: _Brightness(1.0)  # noqa: E731
    plan = harness._epochs_for(Method("two phases", make, True, "", timing_epochs=DANOGAN_TIMING_EPOCHS), 0, X, budget)
    assert (plan.epoch_seconds, plan.fixed_seconds) == pytest.approx((2.8, 20.0))
    assert (plan.epochs, plan.timing_epochs) == (100, (5, 10))
    # Fits of 1 and 3 epochs (4 s apart, timed again as 2 and 6) both have one phase-2 epoch and
    # see phase 1 alone (2 s an epoch, 24 s once): 138 epochs, which take 404 s.
    one_phase = harness._epochs_for(Method("one phase", make, True, ""), 0, X, budget)
    assert (one_phase.epochs, one_phase.timing_epochs) == (138, (2, 6))
    for name in ("D-AnoGAN", THESIS_METHOD, "D-AnoGAN without bandit", "D-AnoGAN on polar spectrum"):
        assert METHODS[name].timing_epochs == DANOGAN_TIMING_EPOCHS
    short, long = DANOGAN_TIMING_EPOCHS
    assert (phase2_epochs(long) - phase2_epochs(short)) * 5 == long - short  # both phases in proportion
    with pytest.raises(ValueError, match="timing_epochs"):
        Method("wrong", make, True, "", timing_epochs=(3, 3))


def test_a_short_timing_is_timed_again_with_more_epochs(monkeypatch):
    # 1 s once per fit and 0.125 s an epoch: fits of 1 and 3 epochs differ by 0.25 s, so both are
    # fitted again 20 times as long, until their extra epochs take the 5 s of MIN_TIMED_SECONDS.
    fitted = []

    def fit_seconds(method, seed, epochs, X, clock):
        fitted.append(epochs)
        return 1.0 + 0.125 * epochs

    monkeypatch.setattr(harness, "_fit_seconds", fit_seconds)
    method = Method("cheap", lambda seed, epochs: _Brightness(1.0), True, "")
    X = np.zeros((1024, 1, 2, 2), dtype=np.float32)
    plan = harness._epochs_for(method, 0, X, Budget(epochs=5000, seconds=38.56))
    assert fitted == [1, 1, 3, 20, 20, 60]
    assert (plan.epochs, plan.timing_epochs) == (300, (20, 60))
    assert (plan.epoch_seconds, plan.fixed_seconds) == pytest.approx((0.125, 1.0))
    fitted.clear()
    harness._epochs_for(method, 0, X, Budget(epochs=8, seconds=38.56))  # the budget's 8 epochs: twice 1 and 3
    assert fitted == [1, 1, 3, 2, 2, 6]


def test_a_method_whose_epochs_cost_more_than_linearly_is_timed_on_all_rows(monkeypatch):
    # An epoch costing 0.01 s per (rows / 1,024) squared: 0.16 s on 4,096 rows,
    # so a 1.65 s budget holds 10 epochs. Timed on 1,024 rows and scaled
    # linearly, an epoch would seem to cost 0.04 s and the plan hold 41.
    timed_rows = []

    def fit_seconds(method, seed, epochs, X, clock):
        timed_rows.append(len(X))
        return 0.01 * epochs * (len(X) / 1024) ** 2

    monkeypatch.setattr(harness, "_fit_seconds", fit_seconds)
    make = lambda seed, epochs: _Brightness(1.0)  # noqa: E731
    X = np.zeros((4096, 1, 2, 2), dtype=np.float32)
    budget = Budget(epochs=100, seconds=1.65)
    assert harness._epochs_for(Method("linear", make, True, ""), 0, X, budget).epochs == 41
    assert set(timed_rows) == {1024}
    timed_rows.clear()
    plan = harness._epochs_for(Method("quadratic", make, True, "", calibration_rows=None), 0, X, budget)
    assert (plan.epochs, set(timed_rows)) == (10, {4096})
    assert METHODS["ALAD"].calibration_rows is None  # each of its minibatch steps shuffles every row


def test_a_run_records_the_estimates_its_epochs_came_from(tmp_path, monkeypatch):
    # A method paying 0.2 s once per fit and 0.05 s per epoch on the toy pool's training rows.
    monkeypatch.setattr(harness, "_fit_seconds", lambda method, seed, epochs, X, clock: 0.2 + 0.05 * epochs)
    trained = Method("trained", lambda seed, epochs: _Brightness(1.0), True, "")
    monkeypatch.setattr(harness, "METHODS", {**METHODS, "trained": trained})
    run_benchmark("toy", ["trained", "raw-pixel 1-NN"], [0], tmp_path, Budget(epochs=99, seconds=1.01), [2],
                  pool_loader=lambda seed: _toy_pool(), progress=lambda line: None)
    records = {r["method"]: r for r in harness.read_runs(tmp_path)}
    assert records["trained"]["epoch_seconds_estimate"] == pytest.approx(0.05)
    assert records["trained"]["fixed_seconds_estimate"] == pytest.approx(0.2)
    assert records["trained"]["epochs"] == 16  # (1.01 - 0.2) / 0.05
    assert records["raw-pixel 1-NN"]["epoch_seconds_estimate"] is None
    # 0.1 s between the fits of 1 and 3 epochs: timed again with 33 times the epochs (the budget's 99 cap it).
    assert records["trained"]["timing_epochs"] == [33, 99]
    assert records["raw-pixel 1-NN"]["timing_epochs"] is None


def test_a_new_epoch_timing_rule_makes_time_budgets_new_runs():
    assert "epoch_timing" in Budget(epochs=5, seconds=60.0).key
    assert "epoch_timing" not in Budget(epochs=5).key


class _Waiting(_Brightness):
    """A fit that waits ``seconds_per_epoch`` per epoch without using the CPU (as if the machine were busy)."""

    def __init__(self, epochs: int, seconds_per_epoch: float) -> None:
        super().__init__(1.0)
        self.wait = epochs * seconds_per_epoch

    def fit(self, X):
        time.sleep(self.wait)
        return self


def test_a_cpu_time_budget_is_not_spent_by_waiting():
    # 20 ms of waiting per epoch: a 0.2 s wall-clock budget holds at most 10
    # epochs, a 0.2 s CPU-time budget all 50 (the fits use almost no CPU).
    method = Method("waiting", lambda seed, epochs: _Waiting(epochs, 0.02), True, "")
    X = np.zeros((64, 1, 2, 2), dtype=np.float32)
    assert harness._epochs_for(method, 0, X, Budget(epochs=50, seconds=0.2))[0] <= 10
    assert harness._epochs_for(method, 0, X, Budget(epochs=50, seconds=0.2, clock="cpu"))[0] == 50


def test_a_run_records_its_fit_time_on_the_budget_s_clock(tmp_path, monkeypatch):
    waiting = Method("waiting", lambda seed, epochs: _Waiting(1, 0.3), True, "")
    monkeypatch.setattr(harness, "METHODS", {**METHODS, "waiting": waiting})
    monkeypatch.setattr(harness, "_epochs_for", lambda method, seed, X, budget: harness.EpochPlan(1, 0.0))
    for clock in ("wall", "cpu"):
        run_benchmark("toy", ["waiting"], [0], tmp_path / clock, Budget(epochs=1, seconds=1.0, clock=clock), [2],
                      pool_loader=lambda seed: _toy_pool(), progress=lambda line: None)
    (wall,) = harness.read_runs(tmp_path / "wall")
    (cpu,) = harness.read_runs(tmp_path / "cpu")
    assert (wall["clock"], cpu["clock"]) == ("wall", "cpu")
    assert wall["fit_seconds"] >= 0.3 > 2 * cpu["fit_seconds"]


def test_the_clock_keys_time_budgets_only_and_wall_keys_are_unchanged():
    wall = Budget(epochs=5, seconds=60.0)
    assert wall.key == Budget(epochs=5, seconds=60.0, clock="wall").key
    assert "clock" not in wall.key
    assert json.loads(Budget(epochs=5, seconds=60.0, clock="cpu").key)["clock"] == "cpu"
    assert Budget(epochs=5, clock="cpu").key == Budget(epochs=5).key  # no time budget: nothing is timed


def test_an_unknown_clock_is_refused():
    with pytest.raises(ValueError, match="clock must be one of .*'gpu'"):
        Budget(epochs=5, seconds=60.0, clock="gpu")


@pytest.fixture
def timed_fits(monkeypatch):
    """A trained scorer whose fits take the times of ``seconds`` in turn (epochs: 3, untimed)."""
    seconds = []
    real = harness.timed_fit_and_score

    def timed(*args):
        scores, _, score_seconds = real(*args)
        return scores, seconds.pop(0), score_seconds

    monkeypatch.setattr(harness, "timed_fit_and_score", timed)
    monkeypatch.setattr(harness, "_epochs_for", lambda method, seed, X, budget: harness.EpochPlan(3, 0.0))
    trained = Method("trained", lambda seed, epochs: _Brightness(1.0), True, "")
    monkeypatch.setattr(harness, "METHODS", {**METHODS, "trained": trained})
    return seconds


def _timed_run(out, tolerance, methods=("trained",)):
    lines = []
    run_benchmark("toy", list(methods), [0], out, Budget(epochs=9, seconds=100.0), [2],
                  pool_loader=lambda seed: _toy_pool(), progress=lines.append, rerun_outside=tolerance)
    return lines


def test_a_fit_outside_the_time_window_is_rerun_once_and_the_rerun_stands(tmp_path, timed_fits):
    timed_fits.extend([130.0, 140.0])  # both outside 85-115 s: only one rerun, and it stands
    lines = _timed_run(tmp_path, 0.15)
    assert not timed_fits
    (record,) = harness.read_runs(tmp_path)
    assert (record["fit_seconds"], record["attempt"]) == (140.0, 2)
    assert np.load(tmp_path / record["scores_file"])["y_test"].sum() == 40
    (first,) = [json.loads(line) for line in (tmp_path / harness.REPLACED_RUNS_FILE).read_text().splitlines()]
    assert (first["fit_seconds"], first["attempt"], first["scores_file"]) == (130.0, 1, None)
    assert "rerun once: the first fit took 130.0 s" in lines[0]
    # The rerun's epochs come from the first fit's cost, 130 s for 3 epochs: 2 fit in 100 s, and
    # nothing is timed again (a timing that misjudged the epochs once would misjudge them again).
    assert (first["epochs"], record["epochs"], record["calibration_seconds"]) == (3, 2, 0.0)
    assert record["epoch_seconds_estimate"] == pytest.approx(130.0 / 3)


def test_a_rerun_plans_its_epochs_from_the_first_fit_and_keeps_the_fixed_cost_apart():
    budget = Budget(epochs=5000, seconds=300.0)
    # 1,300 epochs took 420 s with 20 s paid once: 0.3077 s an epoch, 909 of them in the other 280 s.
    plan = harness.rescaled_plan(1300, 420.0, 20.0, budget)
    assert (plan.epochs, plan.fixed_seconds, plan.calibration_seconds) == (909, 20.0, 0.0)
    assert plan.epoch_seconds == pytest.approx(400.0 / 1300)
    assert harness.rescaled_plan(100, 60.0, None, budget).epochs == 500  # no fixed estimate: all epoch time
    assert harness.rescaled_plan(100, 6.0, 0.0, budget).epochs == 5000  # capped by the budget's epochs
    # A fixed estimate larger than the fit counts for at most half of it, and a plan keeps one epoch.
    assert harness.rescaled_plan(10, 600.0, 900.0, budget) == harness.EpochPlan(1, 0.0, 30.0, 300.0)


def test_a_fit_inside_the_window_or_without_a_tolerance_is_kept(tmp_path, timed_fits):
    timed_fits.extend([114.0, 86.0, 500.0])
    _timed_run(tmp_path / "inside", 0.15)
    _timed_run(tmp_path / "inside low", 0.15)
    _timed_run(tmp_path / "no tolerance", None)
    assert not timed_fits
    for folder, seconds in (("inside", 114.0), ("inside low", 86.0), ("no tolerance", 500.0)):
        (record,) = harness.read_runs(tmp_path / folder)
        assert (record["fit_seconds"], record["attempt"]) == (seconds, 1)
        assert not (tmp_path / folder / harness.REPLACED_RUNS_FILE).exists()


def test_methods_that_do_not_train_are_never_rerun(tmp_path, timed_fits):
    timed_fits.append(0.01)  # far outside the window, but a 1-NN has no time budget
    _timed_run(tmp_path, 0.15, methods=["raw-pixel 1-NN"])
    assert not timed_fits and len(harness.read_runs(tmp_path)) == 1


def test_a_fit_that_trained_every_epoch_of_the_budget_early_is_not_rerun(tmp_path, timed_fits, monkeypatch):
    # 9 epochs is the budget's cap: ending at 20 s of 100 is not a missed budget.
    monkeypatch.setattr(harness, "_epochs_for", lambda method, seed, X, budget: harness.EpochPlan(9, 0.0))
    timed_fits.append(20.0)
    _timed_run(tmp_path, 0.15)
    assert not timed_fits
    (record,) = harness.read_runs(tmp_path)
    assert (record["fit_seconds"], record["epochs"], record["attempt"]) == (20.0, 9, 1)


@pytest.mark.parametrize("budget, tolerance, message", [
    (Budget(epochs=2), 0.15, "needs a time budget"),
    (Budget(epochs=2, seconds=10.0), 0.0, "positive fraction"),
    (Budget(epochs=2, seconds=10.0), -0.1, "positive fraction"),
])
def test_rerun_outside_checks_its_arguments(tmp_path, budget, tolerance, message):
    with pytest.raises(ValueError, match=message):
        run_benchmark("toy", ["raw-pixel 1-NN"], [0], tmp_path, budget, [2],
                      pool_loader=lambda seed: _toy_pool(), rerun_outside=tolerance)
    assert not (tmp_path / harness.RUNS_FILE).exists()


def test_validation_alpha_balances_the_spreads():
    comps = {"mse": np.linspace(0, 4, 9), "kl": np.linspace(0, 1, 9), "critic": np.zeros(9)}
    assert validation_alpha(comps) == pytest.approx(0.8)
    assert validation_alpha({"mse": np.ones(5), "kl": np.zeros(5), "critic": np.zeros(5)}) == 0.5


def test_dagan_rows_oracle_and_figures(tmp_path):
    pytest.importorskip("matplotlib")
    from danogan_sk.benchmark.plots import make_figures

    pool = _toy_pool(n_per_class=30, side=16)
    state = torch.random.get_rng_state()
    records = run_benchmark("toy", ["D-AnoGAN"], [0], tmp_path, Budget(epochs=1), [2],
                            pool_loader=lambda seed: pool, progress=lambda line: None)
    assert torch.equal(state, torch.random.get_rng_state())
    assert {r["row"] for r in records} == {
        "D-AnoGAN (alpha=0.9)", "D-AnoGAN (alpha from validation)", "D-AnoGAN (default score)",
        "D-AnoGAN (default score, patch_weight=0)",
    }
    # Which patch weight the default chose is recorded; with 0, the two default rows agree.
    auc = {r["row"]: r["auc"] for r in records}
    chosen = records[0]["params"]["patch_weight_"]
    assert chosen in (0.0, 0.35)
    if chosen == 0.0:
        assert auc["D-AnoGAN (default score)"] == auc["D-AnoGAN (default score, patch_weight=0)"]
    assert all(len(r["alpha_auc"]) == 11 and 0 < r["params"]["validation_alpha"] < 1 for r in records)
    write_results(records, tmp_path)
    table = (tmp_path / "table_toy.md").read_text()
    assert f"*{ORACLE_ROW}*" in table
    oracle = max(records[0]["alpha_auc"].values())
    assert f"*{oracle:.3f}*" in table
    names = {p.name.split("_")[0] for p in make_figures(tmp_path)}
    assert names == {"roc", "alpha", "bandit", "reconstructions", "latent"}


@pytest.mark.parametrize("name", ["f-AnoGAN", "GANomaly", "OCGAN", "conv VAE"])
def test_conv_baselines_are_seeded_locally(name):
    if name == "conv VAE":
        pytest.importorskip("skorch")
    X = _toy_pool(n_per_class=24, side=8).X[:, None]
    state = torch.random.get_rng_state()
    first = METHODS[name].make(3, 1).fit(X).anomaly_score(X[:5])
    second = METHODS[name].make(3, 1).fit(X).anomaly_score(X[:5])
    assert torch.equal(state, torch.random.get_rng_state())
    assert first.shape == (5,) and np.isfinite(first).all()
    assert np.array_equal(first, second)


def test_wheel_is_one_fit_tested_against_each_anomaly():
    pool = load_pool("wheel", seed=0, wheel_per_manifold=10)
    (task,) = make_tasks(pool, None, seed=0)
    assert task.classes == ("low_contrast_fork", "mixed_bolts")
    assert task.X_train.shape[1:] == (1, 32, 32) and task.X_train.dtype == np.float32
    for mask in task.masks.values():
        assert task.y_test[mask].sum() == 10
    # Each test row's design: the anomalies' own labels, and only normal designs elsewhere.
    normal_labels = set(range(len(pool.class_names))) - set(pool.anomaly_classes)
    for name, mask in task.masks.items():
        label = pool.class_names.index(name)
        np.testing.assert_array_equal(task.classes_test[mask & (task.y_test == 1)], label)
    assert set(task.classes_test[task.y_test == 0].tolist()) == normal_labels
    assert np.bincount(task.classes_test, minlength=len(pool.class_names))[sorted(normal_labels)].tolist() == [2] * 8


def test_cli_bench_on_wheel(tmp_path, capsys):
    from danogan_sk.cli import main

    args = ["bench", "--dataset", "wheel", "--methods", "raw-pixel 1-NN", "--seeds", "0",
            "--wheel-per-manifold", "12", "--out", str(tmp_path), "--no-figures"]
    assert main(args) == 0
    assert "| wheel | low_contrast_fork | mixed_bolts | mean | fit s |" in capsys.readouterr().out
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 2
    assert main(args) == 0  # resumed: nothing recomputed
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 2


def test_wheel_runs_also_test_each_anomaly_against_its_own_design(tmp_path, capsys):
    from danogan_sk.cli import main
    from danogan_sk.datasets import base_design, get_manifold

    assert main(["bench", "--dataset", "wheel", "--methods", "raw-pixel 1-NN", "--seeds", "0",
                 "--wheel-per-manifold", "12", "--out", str(tmp_path), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "| wheel, against each anomaly's own design | low_contrast_fork | mixed_bolts | mean | fit s |" in printed
    assert (tmp_path / "table_wheel_own_design.md").exists()
    pool = load_pool("wheel", seed=0, wheel_per_manifold=12)
    (task,) = make_tasks(pool, None, seed=0)
    for record in harness.read_runs(tmp_path):
        saved = np.load(tmp_path / record["scores_file"])
        anomaly = pool.class_names.index(record["anomaly_class"])
        base = pool.class_names.index(base_design(get_manifold(record["anomaly_class"])).name)
        rows = np.isin(task.classes_test, [anomaly, base])
        assert rows.sum() == 12 + 3  # every image of the anomaly, its design's 3 of 12 normal ones (20 %)
        scores = saved[f"row:{record['row']}"]
        assert record["auc_own_design"] == roc_auc_score(task.classes_test[rows] == anomaly, scores[rows])
        assert record["auc_own_design"] != record["auc"]  # other designs' images left out


def test_leave_one_class_out_has_no_own_design_auc(tmp_path):
    from danogan_sk.benchmark.tables import write_results

    records, _ = _run(tmp_path, ["raw-pixel 1-NN"], classes=[2])
    assert [r["auc_own_design"] for r in records] == [None]
    written = write_results(records, tmp_path)
    assert tmp_path / "table_toy.md" in written
    assert not (tmp_path / "table_toy_own_design.md").exists()


def test_cli_bench_takes_the_budget_s_clock(tmp_path, capsys):
    from danogan_sk.cli import main

    args = ["bench", "--dataset", "wheel", "--methods", "raw-pixel 1-NN", "--seeds", "0",
            "--wheel-per-manifold", "12", "--out", str(tmp_path), "--no-figures", "--seconds", "5"]
    assert main(args + ["--clock", "cpu"]) == 0
    assert {r["clock"] for r in harness.read_runs(tmp_path)} == {"cpu"}
    with pytest.raises(SystemExit):
        main(args + ["--clock", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


def test_alad_trains_passes_over_the_training_data_not_minibatch_steps():
    from danogan_sk.benchmark.methods import ALAD_BATCH_SIZE

    X = np.random.default_rng(0).random((70, 1, 4, 4), dtype=np.float32)
    model = METHODS["ALAD"].make(0, 2).fit(X)
    # PyOD's ALAD takes one minibatch per "epoch": 2 passes over 70 rows are 2 * 3 of them.
    assert ALAD_BATCH_SIZE == model.detector_.batch_size == 32
    assert model.detector_.epochs == 6
    assert METHODS["ALAD"].params == {"epoch": "pass"}  # a new run key: earlier ALAD runs counted steps


def test_the_polar_front_end_methods_score_a_turned_image_as_the_image(tmp_path):
    from danogan_sk.benchmark.methods import POLAR_DAGAN, POLAR_NN, score_variants

    X = _toy_pool().X[:, None]
    turned = np.rot90(X, axes=(2, 3))
    nn = METHODS[POLAR_NN].make(0, 1).fit(X[:60])
    np.testing.assert_allclose(nn.anomaly_score(turned[60:]), nn.anomaly_score(X[60:]), atol=1e-4)
    dagan = METHODS[POLAR_DAGAN].make(0, 1)
    dagan.model.params.update(n_generators=2)  # a tiny fit
    rows, grid = score_variants(dagan.fit(X[:60]), POLAR_DAGAN, X[60:])
    assert list(rows) == [f"{POLAR_DAGAN} (default score)"] and grid == {}
    np.testing.assert_allclose(score_variants(dagan, POLAR_DAGAN, turned[60:])[0][f"{POLAR_DAGAN} (default score)"],
                               rows[f"{POLAR_DAGAN} (default score)"], rtol=1e-3, atol=1e-3)
    assert "PolarSpectrum" in dagan.record_params()["front"]
    assert METHODS[POLAR_DAGAN].iterative and not METHODS[POLAR_NN].iterative


def test_pyod_detectors_behind_the_polar_front_end_see_its_rows_and_keep_their_budget():
    from danogan_sk.benchmark.methods import POLAR_NN, Preprocessed

    X = _toy_pool().X[:, None]
    turned = np.rot90(X, axes=(2, 3))
    for name in ("KNN", "IForest", "AutoEncoder", "VAE", "DeepSVDD"):
        method, polar = METHODS[name], METHODS[f"{name} on polar spectrum"]
        assert polar.iterative == method.iterative and polar.packages == method.packages
        # A new run key: the same detector on other rows is another run.
        assert polar.params == {**method.params, **METHODS[POLAR_NN].params} and polar.key != method.key
    model = METHODS["KNN on polar spectrum"].make(0, 1).fit(X[:60])
    assert isinstance(model, Preprocessed)
    # The detector sees the front end's rows, not the 64 pixels...
    assert model.model.detector_.decision_scores_.shape == (60,)
    assert model.model.scaler_.n_features_in_ == model.front_.transform(X[:1]).shape[1] != 64
    # ...so a quarter turn of the images does not change the scores.
    np.testing.assert_allclose(model.anomaly_score(turned[60:]), model.anomaly_score(X[60:]), rtol=1e-3, atol=1e-3)
    pixels = METHODS["KNN"].make(0, 1).fit(X[:60])
    assert not np.allclose(pixels.anomaly_score(turned[60:]), pixels.anomaly_score(X[60:]), atol=1e-3)


def test_real_mnist_split_and_the_pixel_floor(shared_data_home, tmp_path):
    pool = load_pool("mnist", seed=0, data_home=shared_data_home)
    (task,) = make_tasks(pool, [0], seed=0, max_train=500)
    assert task.X_train.shape == (500, 1, 28, 28) and task.X_train.max() <= 1.0
    assert task.y_test.sum() == (pool.y == 0).sum() == 6903
    records = run_benchmark("mnist", ["raw-pixel 1-NN"], [0], tmp_path, Budget(max_train=500), [0],
                            pool_loader=lambda seed: pool, progress=lambda line: None)
    assert json.loads(records[0]["budget_key"])["max_train"] == 500
    assert records[0]["auc"] > 0.9  # digit 0 is far from every other digit in pixel space


def test_ablation_methods_label_their_rows_and_change_the_detector(tmp_path):
    from danogan_sk.benchmark.methods import METHODS

    pool = _toy_pool(n_per_class=30, side=16)
    records = run_benchmark("toy", ["D-AnoGAN without bandit", "D-AnoGAN without xzx"], [0], tmp_path,
                            Budget(epochs=1), [2], pool_loader=lambda seed: pool,
                            progress=lambda line: None)
    rows = {r["row"]: r for r in records}
    assert set(rows) == {
        f"D-AnoGAN without {part} ({kind})"
        for part in ("bandit", "xzx")
        for kind in ("alpha=0.9", "alpha from validation", "default score", "default score, patch_weight=0")
    }
    # No alpha grid: the oracle row stays the main model's.
    assert not any(r["alpha_auc"] for r in records)
    assert rows["D-AnoGAN without bandit (default score)"]["params"]["bandit"] is False
    assert rows["D-AnoGAN without xzx (default score)"]["params"]["xzx_epochs"] == 0
    model = METHODS["D-AnoGAN without xzx"].make(0, 10)
    assert model.params == {"xzx_epochs": 0}


def test_thesis_configuration_is_one_row_with_thesis_params(tmp_path):
    from danogan_sk import THESIS_PARAMS
    from danogan_sk.benchmark.methods import THESIS_METHOD

    pool = _toy_pool(n_per_class=30, side=16)
    records = run_benchmark("toy", [THESIS_METHOD], [0], tmp_path, Budget(epochs=1), [2],
                            pool_loader=lambda seed: pool, progress=lambda line: None)
    (record,) = records
    assert record["row"] == f"{THESIS_METHOD} (alpha=0.9)"
    assert not record["alpha_auc"]
    params = record["params"]
    # Only the epochs come from the budget; phase 2 is a fifth of phase 1, at least one.
    assert (params["n_epochs"], params["xzx_epochs"]) == (1, 1)
    for key, value in THESIS_PARAMS.items():
        if key not in ("n_epochs", "xzx_epochs"):
            assert params[key] == value, key


def test_every_default_bench_method_is_registered():
    from danogan_sk.benchmark.cli import _DEFAULT_METHODS
    from danogan_sk.benchmark.methods import THESIS_METHOD

    assert set(_DEFAULT_METHODS) <= set(METHODS)
    assert THESIS_METHOD in _DEFAULT_METHODS


def test_unknown_dagan_rows_are_refused():
    from danogan_sk.benchmark.dagan import DAnoGANModel

    with pytest.raises(ValueError, match="Unknown D-AnoGAN rows"):
        DAnoGANModel(0, 1, rows=("D-AnoGAN (alpha=0.5)",))


def test_time_curve_averages_classes_per_budget(tmp_path):
    pytest.importorskip("matplotlib")
    from danogan_sk.benchmark.plots import time_curve, time_curve_points

    pool = _toy_pool(n_per_class=30, side=16)
    outs = []
    for epochs in (1, 2):
        out = tmp_path / f"e{epochs}"
        run_benchmark("toy", ["raw-pixel 1-NN"], [0], out, Budget(epochs=epochs), [1, 2],
                      pool_loader=lambda seed: pool, progress=lambda line: None)
        outs.append(out)
    points = time_curve_points(outs, "toy")
    assert len(points) == 2 and set(points["n_classes"]) == {2}
    records = [r for r in harness.read_runs(outs[0])]
    assert points["auc"].iloc[0] == pytest.approx(np.mean([r["auc"] for r in records]))
    assert time_curve(outs, "toy", tmp_path / "curve.png").stat().st_size > 0
    one_class = time_curve_points(outs, "toy", classes=["c"])
    assert set(one_class["n_classes"]) == {1}
    assert one_class["auc"].iloc[0] == pytest.approx(
        np.mean([r["auc"] for r in records if r["anomaly_class"] == "c"])
    )


def test_dagan_default_row_is_what_the_detector_returns():
    from danogan_sk.benchmark.dagan import ROW_DEFAULT, DAnoGANModel

    X = np.random.default_rng(0).random((80, 1, 8, 8), dtype=np.float32)
    model = DAnoGANModel(seed=0, epochs=1, n_generators=2, base_channels=4, batch_size=16).fit(X)
    rows, _ = model.score_variants(X[:20])
    np.testing.assert_allclose(rows[ROW_DEFAULT], -model.detector_.score_samples(X[:20]), rtol=1e-6)


def test_table_mean_uses_only_seeds_that_have_every_class():
    from danogan_sk.benchmark.tables import auc_table, runs_frame

    def record(anomaly_class, seed, auc):
        return {"dataset": "toy", "anomaly_class": anomaly_class, "method": "m", "row": "m",
                "seed": seed, "auc": auc, "fit_seconds": 1.0, "alpha_auc": {}, "budget_key": "b"}

    # Seed 1 has class "a" only (still running): it must not enter the mean.
    records = [record("a", 0, 0.9), record("b", 0, 0.5), record("a", 1, 0.1)]
    row = next(line for line in auc_table(runs_frame(records), "toy").splitlines() if line.startswith("| m |"))
    cells = [c.strip().strip("*") for c in row.split("|")[1:-1]]
    assert cells[3] == "0.700"  # (0.9 + 0.5) / 2 from seed 0 alone


def test_a_table_never_averages_runs_of_two_versions():
    from danogan_sk.benchmark.tables import ORACLE_ROW, auc_table, runs_frame

    def record(version, auc, alpha_auc):
        key = json.dumps({"params": {}, "versions": {"danogan_sk": version}}, sort_keys=True)
        return {"dataset": "toy", "anomaly_class": "a", "method": "D-AnoGAN", "row": "D-AnoGAN (default score)",
                "seed": 0, "auc": auc, "fit_seconds": 1.0, "alpha_auc": alpha_auc, "budget_key": "b",
                "method_key": key}

    # A folder resumed with a newer version holds the same run twice, under two keys.
    records = [record("0.1.0", 0.9, {0.0: 0.2, 1.0: 0.6}), record("0.2.0", 0.1, {0.0: 0.7, 1.0: 0.3})]
    lines = auc_table(runs_frame(records), "toy").splitlines()[2:]
    cells = {line.split("|")[1].strip().strip("*"): line.split("|")[2].strip().strip("*") for line in lines}
    assert cells == {
        "D-AnoGAN (default score) (danogan_sk 0.1.0)": "0.900",
        "D-AnoGAN (default score) (danogan_sk 0.2.0)": "0.100",
        f"{ORACLE_ROW} (danogan_sk 0.1.0)": "0.600",
        f"{ORACLE_ROW} (danogan_sk 0.2.0)": "0.700",
    }


def _bench_lines(out, methods, budget=Budget(epochs=1), pool=None, classes=(2,)):
    lines = []
    run_benchmark("toy", methods, [0], out, budget, list(classes),
                  pool_loader=lambda seed: pool or _toy_pool(), progress=lines.append)
    return lines


def test_other_data_set_settings_are_new_runs(tmp_path, capsys):
    from danogan_sk.cli import main

    base = ["bench", "--dataset", "wheel", "--methods", "raw-pixel 1-NN", "--out", str(tmp_path),
            "--no-figures"]
    for extra in (["--wheel-per-manifold", "6"], ["--wheel-per-manifold", "8"],
                  ["--wheel-per-manifold", "8", "--wheel-size", "40"]):
        assert main(base + extra) == 0
    assert "skipped" not in capsys.readouterr().err
    records = harness.read_runs(tmp_path)
    assert len(records) == 6  # three settings, two anomalous manifolds each
    assert {(r["data"]["wheel_per_manifold"], r["data"]["wheel_size"]) for r in records} == {
        (6, 32), (8, 32), (8, 40)
    }
    assert len({r["scores_file"] for r in records}) == 3


def test_other_method_parameters_or_versions_are_new_runs(tmp_path, monkeypatch):
    import danogan_sk

    def variant(**params):
        return Method("scorer", lambda seed, epochs: _Brightness(1.0), False, "", params=params,
                      packages=("danogan_sk",))

    for method in (variant(k=1), variant(k=1), variant(k=2)):
        monkeypatch.setattr(harness, "METHODS", {**METHODS, "scorer": method})
        _bench_lines(tmp_path, ["scorer"])
    assert len(harness.read_runs(tmp_path)) == 2
    monkeypatch.setattr(danogan_sk, "__version__", "0.0.0.test")
    assert not _bench_lines(tmp_path, ["scorer"])[0].endswith("skipped")
    assert len(harness.read_runs(tmp_path)) == 3


class _GoodAtOneEpoch:
    """Perfect on class "c" when trained one epoch, inverted otherwise."""

    def __init__(self, epochs: int) -> None:
        self.sign = 1.0 if epochs == 1 else -1.0

    def fit(self, X):
        return self

    def anomaly_score(self, X):
        return self.sign * X.reshape(len(X), -1).mean(axis=1)


def test_a_table_never_averages_budgets_and_untrained_methods_run_once(tmp_path, monkeypatch):
    trained = Method("trained", lambda seed, epochs: _GoodAtOneEpoch(epochs), True, "")
    monkeypatch.setattr(harness, "METHODS", {**METHODS, "trained": trained})
    _bench_lines(tmp_path, ["trained", "raw-pixel 1-NN"], Budget(epochs=1))
    lines = _bench_lines(tmp_path, ["trained", "raw-pixel 1-NN"], Budget(epochs=2))
    # 1-NN does not train: --epochs does not change it (skipped runs are listed first).
    assert lines[0].endswith("raw-pixel 1-NN, seed 0: done before, skipped")
    assert "trained" in lines[1] and not lines[1].endswith("skipped")
    records = harness.read_runs(tmp_path)
    assert [r["method"] for r in records].count("raw-pixel 1-NN") == 1
    write_results(records, tmp_path)
    table = (tmp_path / "table_toy.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip().strip("*")
            for line in table.splitlines()[2:]}
    assert rows["trained (epochs 1)"] == "1.000"
    assert rows["trained (epochs 2)"] == "0.000"
    assert "raw-pixel 1-NN" in rows
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 3


def test_progress_lines_name_the_class_of_each_auc(tmp_path):
    pool = load_pool("wheel", seed=0, wheel_per_manifold=6)
    lines = []
    run_benchmark("wheel", ["raw-pixel 1-NN"], [0], tmp_path, Budget(), None,
                  pool_loader=lambda seed: pool, progress=lines.append)
    aucs = lines[0].split("; ", 1)[1].split("; ")
    assert sorted(item.split(":")[0] for item in aucs) == ["low_contrast_fork", "mixed_bolts"]


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(seconds=-1.0), dict(max_train=0)])
def test_a_budget_that_bounds_nothing_sensible_is_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Budget(**bad)
