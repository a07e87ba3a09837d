"""Throughput of the Wheel data set generator, in images per second.

Run from the repository root::

    python benchmarks/bench_wheels.py [--variation inspection]

Prints, for 64 px and 256 px images, the median over a few repeats of
``make_wheels`` on the eight normal manifolds (shuffled, as by default), with
the thesis's images or under a camera variation preset.
"""

from __future__ import annotations

import argparse
import statistics
import time

from danogan_sk.datasets.wheel import make_wheels
from danogan_sk.datasets.wheel_variation import VARIATIONS

# Batch sizes that take about a second each, so timer noise does not matter.
DEFAULT_CASES = ((64, 4000), (256, 400))


def images_per_second(image_size: int, n_images: int, repeats: int,
                      variation: str = "thesis") -> float:
    """Median images per second of ``make_wheels(n_images, image_size=..., variation=...)``."""
    make_wheels(8, image_size=image_size, random_state=0)  # warm the grid caches
    rates = []
    for seed in range(repeats):
        start = time.perf_counter()
        make_wheels(n_images, image_size=image_size, random_state=seed, variation=variation)
        rates.append(n_images / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats per size (median)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the batch sizes")
    parser.add_argument("--variation", choices=tuple(VARIATIONS), default="thesis")
    args = parser.parse_args()

    print(f"{'size':>6} {'images':>8} {'images/s':>10} {'ms/image':>9}")
    for size, n in DEFAULT_CASES:
        n = max(1, int(n * args.scale))
        rate = images_per_second(size, n, args.repeats, args.variation)
        print(f"{size:>4}px {n:>8d} {rate:>10.0f} {1e3 / rate:>9.3f}")


if __name__ == "__main__":
    main()
