"""Plot the bandit's prior over the generators during a short fit into ``docs/figures/bandit_probabilities.png``.

Run from the repository root::

    python docs/make_bandit_figure.py            # about 3 minutes on a CPU (OMP_NUM_THREADS=1)
    python docs/make_bandit_figure.py --epochs 2 --samples 200 --out /tmp/b.png   # a quick check

D-AnoGAN with 10 generators trains on the eight normal Wheel manifolds at
32 x 32 pixels (phase 1 only; the xzx phase does not change the prior). The
figure shows ``history_["bandit_probabilities"]``, the prior of every
generator at the end of each epoch (the thesis's figure 5.4), and the
entropy weight of the bandit's loss under ``entropy_decay="auto"``. The
script prints, for every generator, its final prior and the manifolds of the
training images the classifier routes to it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write a file, never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from danogan_sk import DAnoGANDetector  # noqa: E402
from danogan_sk.datasets import make_wheels  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures" / "bandit_probabilities.png"


def main(epochs: int = 30, samples: int = 1600, out: Path = OUT) -> Path:
    X, manifold = make_wheels(samples, "normal", image_size=32, random_state=0)
    start = time.perf_counter()
    det = DAnoGANDetector(
        n_generators=10, n_epochs=epochs, xzx_epochs=0, base_channels=16, random_state=0,
        verbose=2,
    ).fit(X)
    print(f"fit: {time.perf_counter() - start:.0f} s")

    prior = det.history_["bandit_probabilities"]  # (n_epochs, n_generators)
    cluster = det.score_components(X)["cluster"]
    print("generator  final prior  manifolds of its training images (count)")
    for k in np.argsort(-prior[-1]):
        values, counts = np.unique(manifold[cluster == k], return_counts=True)
        order = np.argsort(-counts)
        members = ", ".join(f"{values[i]} ({counts[i]})" for i in order[:4])
        print(f"{k:>9}  {prior[-1, k]:11.3f}  {members}")

    epoch = np.arange(1, len(prior) + 1)
    fig, (ax, ax_weight) = plt.subplots(
        2, 1, figsize=(6.4, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot(epoch, prior, lw=1.3)
    ax.axhline(1 / prior.shape[1], color="gray", ls=":", lw=1, label="uniform prior")
    ax.set_ylim(0, 1.05 * prior.max())
    ax.set_ylabel("prior probability of each generator")
    ax.set_title(f"Bandit prior, {prior.shape[1]} generators, 8 normal Wheel manifolds")
    ax.legend(loc="upper left", fontsize=8)
    ax_weight.semilogy(epoch, det.history_["entropy_weight"], color="black")
    ax_weight.set_ylabel("entropy weight")
    ax_weight.set_xlabel("epoch")
    ax_weight.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=1600)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    main(args.epochs, args.samples, args.out)
