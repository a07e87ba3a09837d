"""Figures from a benchmark folder (matplotlib, Agg backend, imported lazily).

Everything is drawn from the files the harness wrote (``runs.jsonl`` and
``scores/*.npz``), so figures can be remade without refitting:

* ``roc_<dataset>.png``: ROC curves of every row, one panel per class (seed 0);
* ``alpha_<dataset>.png``: D-AnoGAN's test AUC against alpha, the fixed and
  validation alphas marked;
* ``bandit_<run>.png``: the bandit's probability of each
  generator over the epochs (thesis figure 5.4);
* ``reconstructions_<run>.png``: queries, reconstructions and
  squared-error heat maps, normal then anomalous (figure 4.9);
* ``latent_<run>.png``: a 2-D t-SNE of the latent codes of normal
  and anomalous test samples (figure 5.5).

:func:`time_curve` draws across folders: mean AUC against training minutes,
one point per budget (one folder per budget).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dagan import FIXED_ALPHA
from .harness import read_runs

__all__ = ["make_figures", "time_curve_points", "time_curve"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _first_seed_files(records: list[dict], dataset: str, method: str | None = None) -> dict:
    """``{scores file: record}`` of the lowest seed, one per run."""
    runs = [r for r in records if r["dataset"] == dataset and (method is None or r["method"] == method)]
    if not runs:
        return {}
    seed = min(r["seed"] for r in runs)
    return {r["scores_file"]: r for r in runs if r["seed"] == seed}


def roc_figure(out: Path, records: list[dict], dataset: str) -> Path | None:
    from sklearn.metrics import roc_curve

    files = _first_seed_files(records, dataset)
    classes = sorted({r["anomaly_class"] for r in files.values()}, key=lambda c: (len(c), c))
    if not classes:
        return None
    plt = _pyplot()
    n_cols = min(5, len(classes))
    n_rows = -(-len(classes) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for ax, anomaly_class in zip(axes.flat, classes):
        for path in files:
            data = np.load(out / path)
            key = f"mask:{anomaly_class}"
            if key not in data:
                continue
            mask = data[key]
            for name in (k for k in data.files if k.startswith("row:")):
                fpr, tpr, _ = roc_curve(data["y_test"][mask], data[name][mask])
                ax.plot(fpr, tpr, lw=1, label=name[4:])
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(f"{dataset}: {anomaly_class} anomalous", fontsize=9)
        ax.set_xlabel("false positive rate", fontsize=8)
        ax.set_ylabel("true positive rate", fontsize=8)
    for ax in list(axes.flat)[len(classes):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, out / f"roc_{dataset}.png")


def alpha_figure(out: Path, records: list[dict], dataset: str) -> Path | None:
    runs = [r for r in records if r["dataset"] == dataset and r.get("alpha_auc")]
    if not runs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    by_class: dict[str, list[dict]] = {}
    for r in runs:
        by_class.setdefault(r["anomaly_class"], []).append(r["alpha_auc"])
    alphas = sorted(float(a) for a in runs[0]["alpha_auc"])
    curves = []
    for anomaly_class, per_seed in sorted(by_class.items()):
        curve = np.mean([[c[str(a)] for a in alphas] for c in per_seed], axis=0)
        curves.append(curve)
        ax.plot(alphas, curve, lw=1, alpha=0.6, label=anomaly_class)
    ax.plot(alphas, np.mean(curves, axis=0), "k", lw=2, label="mean")
    ax.axvline(FIXED_ALPHA, color="C3", ls="--", lw=1, label=f"fixed {FIXED_ALPHA}")
    chosen = [r["params"].get("validation_alpha") for r in runs if "validation_alpha" in r["params"]]
    if chosen:
        ax.axvline(float(np.mean(chosen)), color="C2", ls="-.", lw=1, label="from validation (mean)")
    ax.set_xlabel("alpha (weight of the KL term)")
    ax.set_ylabel("test ROC AUC")
    ax.set_title(f"D-AnoGAN on {dataset}: AUC against alpha (test labels: figure only)", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return _save(fig, out / f"alpha_{dataset}.png")


def bandit_figure(out: Path, path: str, title: str, target: Path) -> Path:
    probabilities = np.load(out / path)["fig:bandit_probabilities"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = np.arange(1, len(probabilities) + 1)
    for k in range(probabilities.shape[1]):
        ax.plot(epochs, probabilities[:, k], lw=1, label=f"G{k}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("bandit probability")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return _save(fig, target)


def reconstruction_figure(out: Path, path: str, title: str, target: Path) -> Path:
    data = np.load(out / path)
    queries, recs = data["fig:grid_query"], data["fig:grid_reconstruction"]
    labels = data["fig:grid_label"]
    error = ((queries - recs) ** 2).mean(axis=1)
    plt = _pyplot()
    n = len(queries)
    fig, axes = plt.subplots(3, n, figsize=(0.9 * n, 3), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(queries[i].mean(axis=0), cmap="gray", vmin=0, vmax=1)
        axes[1, i].imshow(recs[i].mean(axis=0), cmap="gray", vmin=0, vmax=1)
        axes[2, i].imshow(error[i], cmap="coolwarm", vmin=0, vmax=max(float(error.max()), 1e-6))
        axes[0, i].set_title("anomaly" if labels[i] else "normal", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, name in zip(axes[:, 0], ("query", "reconstruction", "squared error")):
        ax.set_ylabel(name, fontsize=6)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return _save(fig, target)


def latent_figure(out: Path, path: str, title: str, target: Path, seed: int = 0) -> Path:
    from sklearn.manifold import TSNE

    data = np.load(out / path)
    latent, labels = data["fig:embed_latent"], data["fig:embed_label"]
    clusters = data["fig:embed_cluster"]
    perplexity = min(30.0, max(2.0, (len(latent) - 1) / 3))
    points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(latent)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    for label, color, name in ((0, "C0", "normal"), (1, "C3", "anomalous")):
        chosen = labels == label
        axes[0].scatter(*points[chosen].T, s=4, c=color, label=name)
    axes[0].legend(fontsize=7)
    axes[0].set_title("test samples by label", fontsize=8)
    scatter = axes[1].scatter(*points.T, s=4, c=clusters, cmap="tab20")
    fig.colorbar(scatter, ax=axes[1], label="generator")
    axes[1].set_title("by routed generator", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, target)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def make_figures(out: str | Path, datasets: list[str] | None = None) -> list[Path]:
    """Draw every figure the records in ``out`` allow; return the files written.

    Examples
    --------
    >>> make_figures("bench_out")  # doctest: +SKIP
    [PosixPath('bench_out/roc_mnist.png'), ...]
    """
    out = Path(out)
    records = read_runs(out)
    datasets = datasets or sorted({r["dataset"] for r in records})
    written = []
    for dataset in datasets:
        written += [p for p in (roc_figure(out, records, dataset), alpha_figure(out, records, dataset)) if p]
        for path, record in _first_seed_files(records, dataset, "D-AnoGAN").items():
            name = Path(path).stem
            title = f"D-AnoGAN, {dataset}, anomaly {record['anomaly_class']}, seed {record['seed']}"
            written.append(bandit_figure(out, path, title, out / f"bandit_{name}.png"))
            written.append(reconstruction_figure(out, path, title, out / f"reconstructions_{name}.png"))
            written.append(latent_figure(out, path, title, out / f"latent_{name}.png"))
    return written


def time_curve_points(outs: list[str | Path], dataset: str, rows: list[str] | None = None,
                      classes: list | None = None):
    """Mean AUC over classes and mean fit minutes of each (row, budget folder).

    Parameters
    ----------
    outs : list of path
        Benchmark folders, one per budget.
    dataset : str
    rows : list of str, optional
        Table rows to keep (default: every row found).
    classes : list, optional
        Held-out classes to keep (default: every class found), so that
        budgets run on different classes are compared on the same ones.

    Returns
    -------
    DataFrame
        Columns ``row``, ``folder``, ``minutes`` (mean fit time), ``auc``
        (mean over classes within a seed, then over seeds), ``n_classes``,
        ``n_seeds``.
    """
    import pandas as pd

    points = []
    for out in outs:
        frame = pd.DataFrame.from_records(read_runs(out))
        frame = frame[frame["dataset"] == dataset]
        if classes is not None:
            frame = frame[frame["anomaly_class"].isin([str(c) for c in classes])]
        for row, part in frame.groupby("row"):
            if rows is not None and row not in rows:
                continue
            per_seed = part.groupby("seed")["auc"].mean()
            points.append({
                "row": row, "folder": str(out),
                "minutes": part.drop_duplicates(["anomaly_class", "seed"])["fit_seconds"].mean() / 60,
                "auc": float(per_seed.mean()),
                "n_classes": part["anomaly_class"].nunique(), "n_seeds": len(per_seed),
            })
    return pd.DataFrame(points, columns=["row", "folder", "minutes", "auc", "n_classes", "n_seeds"])


# Training time below which a row is drawn as a level line (one second).
_NO_TRAINING_MINUTES = 1 / 60


def time_curve(outs: list[str | Path], dataset: str, path: str | Path,
               rows: list[str] | None = None, classes: list | None = None) -> Path:
    """Figure: mean AUC against mean training minutes, a line per row across the budgets.

    A row that trains for under a second at every budget (a nearest
    neighbour) has no place on a log time axis: it is drawn as a horizontal
    dashed line at its mean AUC.
    """
    points = time_curve_points(outs, dataset, rows, classes)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row, part in points.groupby("row", sort=False):
        if part["minutes"].max() < _NO_TRAINING_MINUTES:
            ax.axhline(part["auc"].mean(), color="gray", ls="--", label=f"{row} (no training)")
            continue
        part = part.sort_values("minutes")
        ax.plot(part["minutes"], part["auc"], marker="o", label=row)
    ax.set_xscale("log")
    ax.set_xlabel("mean training time per model (minutes, log scale)")
    ax.set_ylabel(f"mean ROC AUC over the classes of {dataset}")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, Path(path))
