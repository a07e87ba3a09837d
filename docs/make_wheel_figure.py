"""Draw samples of all ten Wheel manifolds into ``docs/figures/wheel_manifolds.png``.

Run from the repository root::

    python docs/make_wheel_figure.py

Like figure 5.3 of the D-AnoGAN thesis: the eight normal manifolds, then the
two anomalous ones (titled in red). Each column is one manifold; the rows are
independent draws, so the rim and hub diameters vary down a column.
"""

from __future__ import annotations

from pathlib import Path

from danogan_sk.datasets.wheel import ALL_MANIFOLDS, NORMAL_MANIFOLDS, make_wheels
from danogan_sk.datasets.wheel_figure import wheel_samples_figure

OUT = Path(__file__).resolve().parent / "figures" / "wheel_manifolds.png"
ROWS = 3
IMAGE_SIZE = 128


def main(out: Path = OUT) -> Path:
    X, y = make_wheels([ROWS] * len(ALL_MANIFOLDS), ALL_MANIFOLDS, image_size=IMAGE_SIZE,
                       shuffle=False, random_state=0)
    return wheel_samples_figure(X, y, ALL_MANIFOLDS, len(NORMAL_MANIFOLDS), out)


if __name__ == "__main__":
    path = main()
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
