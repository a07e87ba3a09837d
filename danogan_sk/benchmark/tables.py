"""Results tables in the thesis's layout, and the flat CSV of every run.

One row per method (D-AnoGAN has one per way of choosing alpha), one column
per held-out class, then the mean over classes and the mean fit time. A
cell is the mean AUC over seeds, ``mean +- std`` when there are several.
Budgets are never averaged: when a folder holds runs at several budgets,
each row is one budget, labelled with it (``VAE (epochs 2)``); a method that
does not train is one row whatever the epochs. Nor are package versions: a
folder resumed with a newer danogan_sk holds the method's runs of both, and
each is its own row, labelled with what differs (``KNN (danogan_sk 0.1.0)``).
The best honest value of each column is in bold. The "oracle" row is
D-AnoGAN at the alpha with the best mean test AUC over the classes of a
seed (as the thesis chose alpha per data set); it uses test labels, so it
is in italics and never in bold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["runs_frame", "oracle_frame", "auc_table", "write_results", "own_design_runs", "ORACLE_ROW"]

ORACLE_ROW = "D-AnoGAN oracle alpha (chosen on test labels)"

_CSV_COLUMNS = [
    "dataset", "anomaly_class", "method", "row", "seed", "auc", "auc_own_design", "average_precision",
    "fit_seconds", "score_seconds", "calibration_seconds", "epochs", "n_train", "n_test",
    "n_test_anomalies", "budget_key", "data_key", "method_key", "params",
]


def runs_frame(records: list[dict]) -> pd.DataFrame:
    """The records as a data frame, one line per (run, table row, tested class)."""
    return pd.DataFrame.from_records(records)


def oracle_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The oracle row: per (dataset, seed, budget), the grid alpha with the best mean test AUC."""
    # Runs of different versions (method keys) are never one oracle.
    keys = [k for k in ("budget_key", "method_key") if k in frame]
    grid = frame[frame["alpha_auc"].map(bool)].drop_duplicates(
        ["dataset", "anomaly_class", "method", "seed", *keys]
    )
    out = []
    for _, runs in grid.groupby(["dataset", "seed", *keys], dropna=False):
        curves = pd.DataFrame(list(runs["alpha_auc"]), index=runs.index)
        best_alpha = curves.mean().idxmax()
        rows = runs.assign(row=ORACLE_ROW, auc=curves[best_alpha], average_precision=np.nan)
        rows["params"] = [{"oracle_alpha": float(best_alpha)}] * len(rows)
        out.append(rows)
    return pd.concat(out) if out else frame.iloc[:0]


def _cell(values: np.ndarray) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def auc_table(frame: pd.DataFrame, dataset: str, class_order: list[str] | None = None,
              value: str = "auc") -> str:
    """Markdown AUC table of one data set.

    Parameters
    ----------
    frame : DataFrame
        :func:`runs_frame` of the records (any data sets, budgets).
    dataset : str
    class_order : list of str, optional
        Column order; default sorted as numbers where possible.
    value : {"auc", "auc_own_design"}, default="auc"
        The protocol's AUC, or each Wheel anomaly's AUC against the normal
        images of its own design alone (no oracle row; rows of records
        without it are left out).

    Returns
    -------
    str
        The table; the mean column is the mean over classes within a seed,
        then mean (+- std) over the seeds that have every class (over all
        seeds, each on the classes it has, while none is complete).
    """
    data = frame[frame["dataset"] == dataset]
    if value == "auc":
        data = pd.concat([data, oracle_frame(data)])
    data = _label_versions(_label_budgets(data[data[value].notna()]))
    classes = class_order or sorted(data["anomaly_class"].unique(), key=_class_sort_key)
    rows = list(dict.fromkeys(data["row"]))
    rows = [r for r in rows if not _is_oracle(r)] + [r for r in rows if _is_oracle(r)]
    means: dict[str, dict[str, float]] = {}
    cells: dict[str, dict[str, str]] = {}
    for row in rows:
        part = data[data["row"] == row]
        by_class = part.pivot_table(index="seed", columns="anomaly_class", values=value)
        cells[row] = {c: _cell(by_class[c].dropna().to_numpy()) for c in classes if c in by_class}
        means[row] = {c: float(by_class[c].mean()) for c in classes if c in by_class}
        per_seed = _complete_seeds(by_class.reindex(columns=[c for c in classes if c in by_class]))
        cells[row]["mean"] = _cell(per_seed.to_numpy())
        means[row]["mean"] = float(per_seed.mean())
        fit = part.drop_duplicates(["anomaly_class", "seed"])["fit_seconds"]
        cells[row]["fit s"] = f"{fit.mean():.0f}"
    columns = classes + ["mean"]
    best = {
        c: max((means[r][c] for r in rows if not _is_oracle(r) and c in means[r]), default=None)
        for c in columns
    }
    title = dataset if value == "auc" else f"{dataset}, against each anomaly's own design"
    lines = [
        f"| {title} | " + " | ".join(columns) + " | fit s |",
        "|---" * (len(columns) + 2) + "|",
    ]
    for row in rows:
        out = []
        for c in columns:
            text = cells[row].get(c, "")
            if _is_oracle(row) and text:
                text = f"*{text}*"
            elif text and best[c] is not None and np.isclose(means[row][c], best[c]):
                text = f"**{text}**"
            out.append(text)
        label = f"*{row}*" if _is_oracle(row) else row
        lines.append(f"| {label} | " + " | ".join(out) + f" | {cells[row]['fit s']} |")
    return "\n".join(lines)


def _is_oracle(row: str) -> bool:
    return row.startswith(ORACLE_ROW)


def _label_budgets(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with each row named after its budget when the runs have more than one.

    A method that does not train has only ``max_train`` in its budget, which
    any budget with the same ``max_train`` shares.
    """
    if "budget" not in data or data["budget"].isna().any():
        return data
    trained = data["budget"][data["budget"].map(lambda b: "epochs" in b)]
    mixed = (trained.map(_budget_text).nunique() > 1
             or data["budget"].map(lambda b: b.get("max_train")).nunique(dropna=False) > 1)
    if not mixed:
        return data
    return _append_labels(data, data["budget"].map(_budget_text))


def _label_versions(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with each row named after its method's package versions (or parameters) when
    the method's runs have more than one :attr:`~.methods.Method.key`, so that results of
    two versions are never averaged. Only what differs between the keys is named."""
    if "method_key" not in data:
        return data
    keys = data["method_key"].fillna("{}")
    counts = keys.groupby(data["method"]).nunique()
    labels: dict[tuple[str, str], str] = {}
    for method in counts[counts > 1].index:
        flat = {key: _flat_key(key) for key in keys[data["method"] == method].unique()}
        names = sorted({name for fields in flat.values() for name in fields})
        varying = [n for n in names if len({str(fields.get(n)) for fields in flat.values()}) > 1]
        for key, fields in flat.items():
            labels[(method, key)] = ", ".join(f"{n} {fields.get(n, '-')}" for n in varying)
    if not labels:
        return data
    return _append_labels(data, [labels.get((m, k), "") for m, k in zip(data["method"], keys)])


def _append_labels(data: pd.DataFrame, labels) -> pd.DataFrame:
    """``data`` with each row's label appended to its name in brackets (none where it is empty)."""
    return data.assign(row=[f"{row} ({label})" if label else row for row, label in zip(data["row"], labels)])


def _flat_key(key: str) -> dict:
    """A method key's parameters and package versions as one flat dict."""
    parsed = json.loads(key)
    return {**parsed.get("params", {}), **parsed.get("versions", {})}


def _budget_text(budget: dict) -> str:
    """``epochs 2, max_train 500``: the budget's bounds that are set."""
    return ", ".join(f"{name} {value}" for name, value in sorted(budget.items()) if value is not None)


def _complete_seeds(by_class: pd.DataFrame) -> pd.Series:
    """Mean over classes of each seed, over the seeds that have every class when there are any.

    A seed still running has fewer classes; mixing its mean with complete
    seeds' would compare means over different classes.
    """
    complete = by_class.dropna()
    return (complete if len(complete) else by_class).mean(axis=1)


def _class_sort_key(name: str):
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def write_results(records: list[dict], out: str | Path) -> list[Path]:
    """``results.csv``, ``results.json`` and one ``table_<dataset>.md`` per data set in ``out``.

    A Wheel preset's runs also get ``table_<dataset>_own_design.md``: each
    anomaly against the normal images of its own design alone.
    """
    out = Path(out)
    frame = runs_frame(records)
    written = [out / "results.csv", out / "results.json"]
    flat = frame.reindex(columns=_CSV_COLUMNS)
    flat.to_csv(written[0], index=False)
    frame.to_json(written[1], orient="records", indent=1)
    for dataset in frame["dataset"].unique():
        path = out / f"table_{dataset}.md"
        path.write_text(auc_table(frame, dataset) + "\n")
        written.append(path)
        if own_design_runs(frame, dataset):
            path = out / f"table_{dataset}_own_design.md"
            path.write_text(auc_table(frame, dataset, value="auc_own_design") + "\n")
            written.append(path)
    return written


def own_design_runs(frame: pd.DataFrame, dataset: str) -> bool:
    """Whether any record of ``dataset`` has an AUC against its anomaly's own design."""
    return "auc_own_design" in frame and bool(frame.loc[frame["dataset"] == dataset, "auc_own_design"].notna().any())
