"""Does the bandit converge within a short fit? Prior over time and cluster purity on Wheel.

The quick start's data (Wheel, 32 px, 250 images per manifold, its split
seed) has eight normal manifolds. A detector with more generators than
manifolds (``--n-generators``, 15 by default as in the thesis) should end
phase 1 with the surplus generators' prior near zero and each remaining
generator's cluster dominated by one manifold. For each setting (JSON of
``DAnoGANDetector`` parameters) and seed this prints:

* ``active``: generators whose final prior is at least ``1 / (2 K)``, half
  of the uniform share (the rest count as switched off);
* ``min prior`` / ``max prior`` at the end of phase 1;
* ``used``: clusters that receive at least 1 % of the training images;
* ``purity``: the share of training images whose cluster's majority
  manifold is their own (1.0 = every cluster holds one manifold). The
  manifold labels serve only this record; nothing is chosen on them;
* ``purity, bolts merged``: the same with the manifolds that differ only in
  their bolt holes (4 or 5, a few pixels at 32 px) counted as one design;
* ``size explained``: the share of the variance of the training images'
  rim diameter (a continuous variation within every manifold) that their
  clusters explain (R squared): 1.0 = the clusters split the wheels by size;
* ``generator purity``: each generator's samples (``SAMPLES_PER_GENERATOR``
  from a fixed latent draw) labelled with the manifold of their nearest
  training image in the networks' pixel scale, the majority's share
  averaged over generators with the prior as weights (1.0 = every
  generator draws one manifold); ``covered``: the manifolds that are
  the majority of at least one generator. An untrained generator's samples
  all find one training image, so purity needs ``covered`` beside it;
* ``C on generated``: how often the classifier names the generator that
  drew a sample. With the columns above it shows which link of the
  routing breaks: generators that mix manifolds, a classifier that tells
  them apart but sends the real images elsewhere, or real images routed
  by their size rather than their design;
* ``AUC``: the detector's default score on the quick start's two
  anomalies (mean), to show what the setting costs the detection;
* the prior at a few epochs (``--trace``).

    python benchmarks/bandit_convergence.py --settings '{}' '{"lr_bandit": 0.05}' --seeds 0 1

``--chain`` measures one warm-started fit after several phase-1 lengths
(with ``entropy_decay="auto"`` each length re-plans the bandit's remaining
steps, as ``warm_start`` documents). ``--front-end polar-spectrum`` fits
the detector on :class:`~danogan_sk.preprocessing.PolarSpectrum` rows of
the same images (the front end fitted on the training images), which the
wheel's turn and size leave nearly unchanged; ``generator purity`` then
labels each sample with the nearest training row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import normal_anomaly_split
from danogan_sk.datasets.wheel_benchmarks import get_wheel_benchmark
from danogan_sk.preprocessing import PolarSpectrum


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose cluster's most common label is their own.

    Examples
    --------
    >>> purity(np.array([0, 0, 1, 1]), np.array([5, 5, 6, 7]))
    0.75
    """
    majority = sum(np.bincount(labels[clusters == k]).max() for k in np.unique(clusters))
    return float(majority / len(labels))


def wheel_split(seed: int, per_manifold: int, size: int, front_end: str = "pixels"):
    """The benchmark, its split and each image's rim diameter (for ``size explained``).

    With ``front_end="polar-spectrum"`` the split's images are replaced by
    their ``PolarSpectrum`` rows, the front end fitted on the training images.
    """
    bench = get_wheel_benchmark("wheel")
    X, y, geometry = bench.make(per_manifold, seed, size, return_params=True)
    normal = [i for i in range(len(bench.class_names)) if i not in bench.anomaly_labels]
    split = normal_anomaly_split(X, y, normal, bench.anomaly_labels, random_state=seed)
    if front_end == "polar-spectrum":
        rows = PolarSpectrum().fit(split.X_train)
        split = dataclasses.replace(split, X_train=rows.transform(split.X_train),
                                    X_test=rows.transform(split.X_test))
    return bench, split, geometry["rim_diameter"]


def explained(clusters: np.ndarray, values: np.ndarray) -> float:
    """Share of the variance of ``values`` that the cluster means explain (R squared).

    Examples
    --------
    >>> explained(np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 3.0, 3.0]))
    1.0
    """
    total = ((values - values.mean()) ** 2).sum()
    within = sum(((values[clusters == k] - values[clusters == k].mean()) ** 2).sum()
                 for k in np.unique(clusters))
    return float(1.0 - within / total)


def _without_bolts(bench, labels: np.ndarray) -> np.ndarray:
    """Design labels without the bolt count (``3spoke_closed_4bolt`` -> ``3spoke_closed``)."""
    designs = [name.rsplit("_", 1)[0] for name in bench.class_names]
    _, merged = np.unique(designs, return_inverse=True)
    return merged[labels]


#: Samples drawn from each generator for ``generator purity`` and ``C on generated``.
SAMPLES_PER_GENERATOR = 200


def generator_record(detector: DAnoGANDetector, X_train: np.ndarray, labels: np.ndarray) -> dict:
    """``generator purity`` and ``C on generated`` of a fitted ``detector`` (module notes)."""
    nets = detector.networks_
    scaled = detector._to_network_input(X_train).reshape(len(X_train), -1).astype(np.float64)
    squared_norms = (scaled**2).sum(axis=1)
    prior = nets.prior().detach().cpu().numpy().astype(np.float64)
    draws = torch.Generator().manual_seed(0)
    shares, hits, majorities = [], [], set()
    with torch.no_grad():
        for k in range(len(prior)):
            z = torch.rand(SAMPLES_PER_GENERATOR, nets.spec.latent_dim, generator=draws) * 2 - 1
            cluster = torch.full((SAMPLES_PER_GENERATOR,), k, dtype=torch.long)
            samples = nets.generate(z.to(detector.device_), cluster.to(detector.device_))
            hits.append(float((nets.classifier(nets.critic.features(samples)).argmax(1) == k)
                              .float().mean()))
            flat = samples.reshape(SAMPLES_PER_GENERATOR, -1).double().cpu().numpy()
            distances = squared_norms[None, :] - 2.0 * flat @ scaled.T
            manifolds = labels[distances.argmin(axis=1)]
            counts = np.bincount(manifolds)
            shares.append(counts.max() / SAMPLES_PER_GENERATOR)
            majorities.add(int(counts.argmax()))
    return {"generator purity": float(np.dot(shares, prior) / prior.sum()),
            "covered": len(majorities), "C on generated": float(np.mean(hits))}


def measure(detector: DAnoGANDetector, split, bench, fit_cpu: float, rims: np.ndarray) -> dict:
    """The record of a fitted ``detector`` (``fit_cpu``: the CPU seconds its fits took)."""
    priors = np.asarray(detector.history_["bandit_probabilities"])
    final = priors[-1]
    n_generators = len(final)
    _, clusters = detector.encode(split.X_train)
    counts = np.bincount(clusters, minlength=n_generators)
    scores = -detector.decision_function(split.X_test)  # higher = more anomalous
    aucs = [roc_auc_score(split.y_test[split.test_mask(a)], scores[split.test_mask(a)])
            for a in bench.anomaly_labels]
    return {
        "active": int((final >= 1 / (2 * n_generators)).sum()),
        "min prior": float(final.min()),
        "max prior": float(final.max()),
        "used": int((counts >= 0.01 * len(clusters)).sum()),
        "purity": purity(clusters, split.classes_train),
        "purity, bolts merged": purity(clusters, _without_bolts(bench, split.classes_train)),
        "size explained": explained(clusters, rims[split.idx_train]),
        **generator_record(detector, split.X_train, split.classes_train),
        "AUC": float(np.mean(aucs)),
        "fit CPU s": fit_cpu,
        "priors": priors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["{}"],
                        help="JSON of DAnoGANDetector parameters, one per setting")
    parser.add_argument("--n-generators", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--per-manifold", type=int, default=250)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--front-end", choices=("pixels", "polar-spectrum"), default="pixels",
                        help="polar-spectrum: the detector sees PolarSpectrum rows of the images")
    parser.add_argument("--trace", action="store_true",
                        help="print the sorted prior at four epochs")
    parser.add_argument("--chain", type=int, nargs="+", default=None, metavar="N_EPOCHS",
                        help="one warm-started fit per setting and seed, measured after each of "
                             "these phase-1 lengths (CPU seconds: every fit of the chain so far)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    columns = ("active", "min prior", "max prior", "used", "purity", "purity, bolts merged",
               "size explained", "generator purity", "covered", "C on generated", "AUC",
               "fit CPU s")
    print("| setting | seed | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    splits = {seed: wheel_split(seed, args.per_manifold, args.size, args.front_end) for seed in args.seeds}
    for setting in args.settings:
        params = {"n_generators": args.n_generators, **json.loads(setting)}
        for seed in args.seeds:
            bench, split, rims = splits[seed]
            warm = args.chain is not None
            detector = DAnoGANDetector(random_state=seed, warm_start=warm, **params)
            fit_cpu = 0.0
            for n_epochs in args.chain or [None]:
                if n_epochs is not None:
                    detector.set_params(n_epochs=n_epochs)
                start = time.process_time()
                detector.fit(split.X_train)
                fit_cpu += time.process_time() - start
                result = measure(detector, split, bench, fit_cpu, rims)
                label = setting if n_epochs is None else f"{setting}, {n_epochs} epochs"
                cells = [f"{result[c]:.3g}" if isinstance(result[c], float) else str(result[c])
                         for c in columns]
                print(f"| {label} | {seed} | " + " | ".join(cells) + " |", flush=True)
            if args.trace:
                priors = result["priors"]
                for epoch in sorted({0, len(priors) // 3, 2 * len(priors) // 3, len(priors) - 1}):
                    sorted_prior = np.sort(priors[epoch])[::-1]
                    print(f"    epoch {epoch + 1}: " + " ".join(f"{p:.3f}" for p in sorted_prior))


if __name__ == "__main__":
    main()
