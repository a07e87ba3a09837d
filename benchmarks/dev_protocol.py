"""Development protocol: choose the detector's defaults without touching the benchmark's test data.

The thesis protocol for held-out classes, on the *training file* only (the
benchmark tables of ``danogan bench`` use the test file). The split seed is
fixed (``--split-seed``); for each held-out class and each detector seed
(``--seeds``, at least two) one detector is fitted on ``--n-train`` images of
the other classes, then every score variant below is computed from that one
fit, on ``--n-eval`` held-out rows (normal images of the other classes plus
the anomalous class), with the raw-pixel 1-NN on the same split as the
yardstick. Scales and memory banks come from the training images only; no
label of the evaluation rows is used for anything but the AUC.

Score variants (all label-free):

* ``eq. 5.1``: the thesis's score, alpha = 0.9, unscaled;
* single terms (``mse``, ``critic``) and the previous default
  (``mse + critic``, each divided by its interquartile range on the training data);
* ``neighbor[metric, k, pool, bank]``: distance of the critic features
  ``D_i`` to the ``k`` nearest of ``bank`` training images, alone, summed
  with the critic (``+ critic``) and with the critic and the pixel error
  (``+ critic + mse``), each term scaled as above.

Each fit is timed in CPU seconds of this process (one thread by default),
so runs in parallel with other work time the same. Every AUC is appended to
``--out`` (JSON lines; a rerun skips what is there) and the summary prints
the mean AUC over the classes per seed, their mean and the spread between
seeds (max - min), and the mean fit CPU minutes, per budget and variant.

    python benchmarks/dev_protocol.py --dataset mnist --out dev_mnist.jsonl
    python benchmarks/dev_protocol.py --dataset mnist --out dev_mnist.jsonl --summary
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from danogan_sk import DAnoGANDetector
from danogan_sk.benchmark.methods import RawPixelNN
from danogan_sk.datasets import leave_one_class_out, load_dataset
from danogan_sk.memory_bank import MemoryBank, bank_rows, feature_vectors
from danogan_sk.scoring import anomaly_score, term_spreads

#: Memory-bank settings compared: (metric, n_neighbors, pool, bank size).
BANKS = (
    ("cosine", 1, None, 2000),
    ("euclidean", 1, None, 2000),
    ("cosine", 5, None, 2000),
    ("euclidean", 5, None, 2000),
    ("cosine", 1, 4, 2000),
    ("euclidean", 1, 4, 2000),
    ("cosine", 1, None, 500),
    ("cosine", 1, None, 5000),
)


def budget_name(params: dict) -> str:
    return f"{params.get('n_epochs', 10)}+{params.get('xzx_epochs', 2)} epochs " + json.dumps(
        {k: v for k, v in sorted(params.items()) if k not in ("n_epochs", "xzx_epochs")}
    )


def score_variants(det: DAnoGANDetector, X_train, X_eval, seed: int) -> dict[str, np.ndarray]:
    """Anomaly scores of ``X_eval`` (higher = more anomalous) for every variant, from one fit."""
    train = det.score_components(X_train)  # the bank term of training rows skips the row itself
    evaluation = det.score_components(X_eval)
    spreads = term_spreads(train)
    scores = {
        "eq. 5.1": anomaly_score(evaluation, 0.9),
        "mse": evaluation["mse"],
        "critic": evaluation["critic"],
        "mse + critic (previous default)": anomaly_score(evaluation, 0.0, 0.5, spreads),
    }
    features_train = torch.from_numpy(det.critic_features(X_train))
    features_eval = torch.from_numpy(det.critic_features(X_eval))
    for metric, k, pool, size in BANKS:
        rows = bank_rows(len(X_train), size, seed)
        bank = MemoryBank(feature_vectors(features_train[rows], pool, metric), k, metric, pool)
        name = f"neighbor[{metric}, k={k}, pool={pool}, bank={size}]"
        reference = dict(train, neighbor=bank.distance(features_train).double().numpy())
        query = dict(evaluation, neighbor=bank.distance(features_eval).double().numpy())
        spreads = term_spreads(reference)
        scores[name] = query["neighbor"]
        scores[name + " + critic"] = anomaly_score(query, 0.0, 0.5, spreads, neighbor_weight=0.5)
        scores[name + " + critic + mse"] = anomaly_score(query, 0.0, 1 / 3, spreads, neighbor_weight=1 / 3)
    return scores


def run(args, params: dict, records: list[dict], out: Path) -> None:
    X, y = load_dataset(args.dataset, "train", data_home=args.data_home)
    done = {(r["class"], r["seed"], r["budget"]) for r in records}
    budget = budget_name(params)
    for anomaly_class, seed in itertools.product(args.classes, args.seeds):
        if (anomaly_class, seed, budget) in done:
            continue
        split = leave_one_class_out(X, y, anomaly_class, random_state=args.split_seed)
        rows = np.random.default_rng(args.split_seed).choice(len(split.X_test), args.n_eval, replace=False)
        X_eval, y_eval = split.X_test[rows], split.y_test[rows]
        X_train = split.X_train[: args.n_train]
        det = DAnoGANDetector(random_state=seed, **params)
        start = time.process_time()
        det.fit(X_train)
        fit_cpu = time.process_time() - start
        scores = score_variants(det, X_train, X_eval, seed)
        scores["raw-pixel 1-NN"] = RawPixelNN().fit(X_train).anomaly_score(X_eval)
        record = {
            "dataset": args.dataset, "class": anomaly_class, "seed": seed, "budget": budget,
            "fit_cpu_s": round(fit_cpu, 1),
            "auc": {name: round(float(roc_auc_score(y_eval, s)), 4) for name, s in scores.items()},
        }
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        records.append(record)
        best = max(record["auc"], key=record["auc"].get)
        print(f"class {anomaly_class} seed {seed}: fit {fit_cpu:.0f} CPU s, 1-NN "
              f"{record['auc']['raw-pixel 1-NN']:.3f}, best {best} {record['auc'][best]:.3f}", flush=True)


def summary(records: list[dict], classes: list[int]) -> None:
    """Mean AUC over ``classes`` per seed; seeds' mean and spread, per budget and variant."""
    for budget in sorted({r["budget"] for r in records}):
        rows = [r for r in records if r["budget"] == budget and r["class"] in classes]
        seeds = sorted({r["seed"] for r in rows})
        complete = [s for s in seeds if {r["class"] for r in rows if r["seed"] == s} >= set(classes)]
        if not complete:
            continue
        minutes = np.mean([r["fit_cpu_s"] for r in rows if r["seed"] in complete]) / 60
        print(f"\n{rows[0]['dataset']}, {budget}: {len(classes)} classes, seeds {complete}, "
              f"{minutes:.1f} CPU minutes per fit\n")
        print("| score | mean AUC | spread between seeds | " + " | ".join(f"seed {s}" for s in complete) + " |")
        print("|---|---:|---:|" + "---:|" * len(complete))
        per_variant = {}
        for name in rows[0]["auc"]:
            per_seed = [np.mean([r["auc"][name] for r in rows if r["seed"] == s]) for s in complete]
            per_variant[name] = per_seed
        for name, per_seed in sorted(per_variant.items(), key=lambda item: -np.mean(item[1])):
            print(f"| {name} | {np.mean(per_seed):.3f} | {np.ptp(per_seed):.3f} | "
                  + " | ".join(f"{v:.3f}" for v in per_seed) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="detector seeds")
    parser.add_argument("--split-seed", type=int, default=1234)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--params", default='{"n_epochs": 6, "xzx_epochs": 1}',
                        help="JSON of DAnoGANDetector parameters (the training budget and recipe)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file of results")
    parser.add_argument("--summary", action="store_true", help="only print the summary of --out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    if not args.summary:
        run(args, json.loads(args.params), records, args.out)
    summary(records, args.classes)


if __name__ == "__main__":
    main()
