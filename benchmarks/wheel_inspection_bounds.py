"""How much of the Wheel inspection preset can be detected at all, and by what.

Run from the repository root::

    python benchmarks/wheel_inspection_bounds.py [--split-seed 1234] [--epochs 25] \
        [--turns 1 24 72] [--dagan-epochs 50 200 600 --dagan-seeds 0 1]

On one draw of ``wheel-inspection`` made from ``--split-seed`` (as
``benchmarks/dev_protocol.py --dataset wheel-inspection`` draws it; the
benchmark's draws come from its run seeds 0, 1, 2, ...), it prints the ROC AUC
per anomaly of these scores:

* the raw-pixel 1-NN (the benchmark's baseline);
* the same 1-NN on rotation-invariant rows, no labels
  (:class:`danogan_sk.preprocessing.PolarSpectrum`: each image sampled on
  rings about the part's centre, sized to the part, standardised, and the
  magnitudes of each ring's Fourier transform along the angle kept, which a
  rotation of the wheel leaves unchanged), and with its rings fixed to the
  frame (``center="image", radius="image"``);
* with ``--turns``, a 1-NN on the images turned to the training images' pose by
  search, no labels: each image centred on its part and sized to it as
  ``PolarSpectrum`` finds them, standardised within the part's disc, and a
  query's distance the smallest over its copies turned by ``360 / N`` degree
  steps for each ``N`` given (``N = 1``: centred and sized only);
* a reference that uses labels: a small convolutional classifier trained
  on the normal training images and half of the anomaly's images (weighted to
  balance), tested on the held-out normal images and the other half.

The classifier is not a detector (it has seen the defect); it says how well
a small network separates the defect from normal wheels at this resolution
and sample size when it has to learn the camera's rotation from the images.

With ``--dagan-epochs`` it also fits the benchmark's ``D-AnoGAN on polar
spectrum`` (``make_pipeline(PolarSpectrum(), DAnoGANDetector(...))`` with the
benchmark's validation hold-out) for each number of phase-1 epochs and each
of ``--dagan-seeds``, and prints its mean AUC against CPU minutes: the
development evidence for that method, on this draw only.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from danogan_sk.benchmark.data import as_images, load_pool, make_tasks
from danogan_sk.benchmark.methods import METHODS, POLAR_DAGAN, POLAR_NN, Preprocessed, RawPixelNN, score_variants
from danogan_sk.preprocessing import PolarSpectrum


class SmallClassifier(nn.Module):
    """Four strided convolutions, global average pooling, one logit."""

    def __init__(self) -> None:
        super().__init__()
        widths = [1, 16, 32, 64, 128]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 4, 2, 1) for i, o in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return self.out(x.mean((2, 3)))[:, 0]


def on_the_part(images: torch.Tensor, polar: PolarSpectrum, degrees: float) -> torch.Tensor:
    """``images`` centred on their part, sized to it, turned by ``degrees``.

    Returns the pixels within the part's disc, standardised per image.
    """
    height, width = images.shape[2:]
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    turn = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])
    frame = F.affine_grid(turn, [1, 1, height, width], align_corners=False)[0]
    # The frame's points moved onto each part as PolarSpectrum moves its rings.
    moved = F.grid_sample(images, polar._grids(images, frame), padding_mode="border",
                          align_corners=False)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width),
                            indexing="ij")
    disc = (xs ** 2 + ys ** 2 < 0.95).flatten()  # the part, not the frame's corners
    rows = moved.flatten(2)[:, :, disc].flatten(1)
    return (rows - rows.mean(1, keepdim=True)) / rows.std(1, keepdim=True).clamp_min(1e-6)


def turned_nn_scores(X_train: torch.Tensor, X_test: torch.Tensor, turns: int) -> np.ndarray:
    """Distance of each test image to the nearest training image, the smallest over its turns."""
    polar = PolarSpectrum().fit(X_train.numpy())
    bank = on_the_part(X_train, polar, 0.0)
    nearest = [torch.cdist(on_the_part(X_test, polar, 360 * k / turns), bank).min(1).values
               for k in range(turns)]
    return torch.stack(nearest).min(0).values.numpy()


def supervised_auc(X_train, X_test, y_test, mask, epochs: int, seed: int) -> tuple[float, int]:
    """AUC of a classifier trained with half of one anomaly's images (labels!); the other half tests."""
    rng = np.random.default_rng(seed)
    anomalies = rng.permutation(np.flatnonzero(mask & (y_test == 1)))
    seen, unseen = anomalies[: len(anomalies) // 2], anomalies[len(anomalies) // 2:]
    X = torch.cat([X_train, X_test[seen]])
    y = torch.cat([torch.zeros(len(X_train)), torch.ones(len(seen))])
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # the initial weights from the seed, without touching the caller's RNG
        torch.manual_seed(seed)
        model = SmallClassifier()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    balance = torch.tensor(len(X_train) / len(seen))
    for _ in range(epochs):
        for batch in torch.randperm(len(X), generator=generator).split(64):
            loss = F.binary_cross_entropy_with_logits(model(X[batch]), y[batch], pos_weight=balance)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    rows = np.concatenate([np.flatnonzero(mask & (y_test == 0)), unseen])
    with torch.no_grad():
        scores = model(X_test[rows]).numpy()
    return float(roc_auc_score(y_test[rows], scores)), len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split-seed", type=int, default=1234)
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--epochs", type=int, default=25, help="epochs of the supervised classifier")
    parser.add_argument("--seed", type=int, default=0, help="seed of the classifier and its half split")
    parser.add_argument("--turns", type=int, nargs="*", default=[],
                        help="numbers of turns of the 1-NN on the part (e.g. 1 24 72)")
    parser.add_argument("--dagan-epochs", type=int, nargs="*", default=[], help="phase-1 epochs of D-AnoGAN fits")
    parser.add_argument("--dagan-seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    torch.set_num_threads(1)

    pool = load_pool("wheel-inspection", args.split_seed, wheel_size=args.size)
    (task,) = make_tasks(pool, None, args.split_seed)
    X_train, X_test = (torch.from_numpy(as_images(X)) for X in (task.X_train, task.X_test))
    models = {name: METHODS[name].make(args.seed, 1) for name in ("raw-pixel 1-NN", POLAR_NN)}
    models[f"{POLAR_NN}, rings fixed to the frame"] = Preprocessed(
        PolarSpectrum(center="image", radius="image"), RawPixelNN())
    scores = {name: model.fit(task.X_train).anomaly_score(task.X_test) for name, model in models.items()}
    for turns in args.turns:
        start = time.process_time()
        name = f"1-NN on the part, queries turned in {turns} steps"
        scores[name] = turned_nn_scores(X_train, X_test, turns)
        print(f"{name}: {time.process_time() - start:.0f} CPU s", flush=True)
    rows = {name: {c: roc_auc_score(task.y_test[m], s[m]) for c, m in task.masks.items()}
            for name, s in scores.items()}
    start = time.process_time()
    bound = {c: supervised_auc(X_train, X_test, task.y_test, m, args.epochs, args.seed) for c, m in task.masks.items()}
    seen = min(n for _, n in bound.values())
    rows[f"supervised CNN, {seen} labelled defects (uses labels, not a detector)"] = {
        c: auc for c, (auc, _) in bound.items()}

    print(f"wheel-inspection at {args.size} px drawn from split seed {args.split_seed}: "
          f"{len(task.X_train)} normal training images; classifier {time.process_time() - start:.0f} CPU s\n")
    names = list(task.masks)
    print("| score | " + " | ".join(names) + " | mean |")
    print("|---|" + "---:|" * (len(names) + 1))
    for name, aucs in rows.items():
        print(f"| {name} | " + " | ".join(f"{aucs[c]:.3f}" for c in names) + f" | {np.mean(list(aucs.values())):.3f} |")
    if args.dagan_epochs:
        polar_dagan_curve(task, args.dagan_epochs, args.dagan_seeds, names)


def polar_dagan_curve(task, epochs_list: list, seeds: list, names: list) -> None:
    """Mean AUC of the benchmark's D-AnoGAN on polar spectrum against CPU minutes (one fit per point)."""
    print(f"\n{POLAR_DAGAN} on the same draw, default score, one fit per (epochs, seed)\n")
    print("| phase-1 epochs | CPU minutes per fit | seed | " + " | ".join(names) + " | mean |")
    print("|---|---:|---:|" + "---:|" * (len(names) + 1))
    for epochs in epochs_list:
        for seed in seeds:
            start = time.process_time()
            model = METHODS[POLAR_DAGAN].make(seed, epochs).fit(task.X_train)
            minutes = (time.process_time() - start) / 60
            rows, _ = score_variants(model, POLAR_DAGAN, task.X_test)
            (scores,) = rows.values()
            aucs = [roc_auc_score(task.y_test[task.masks[c]], scores[task.masks[c]]) for c in names]
            print(f"| {epochs} | {minutes:.1f} | {seed} | " + " | ".join(f"{a:.3f}" for a in aucs)
                  + f" | {np.mean(aucs):.3f} |", flush=True)


if __name__ == "__main__":
    main()
