"""Peak memory of scoring rows read from a ``numpy.memmap``: it must not grow with the row count.

A detector at the default architecture (28x28 images, 10 generators) is
fitted briefly on random images, saved, and then, in a fresh process per row
count, loaded and used to score a float32 memmap of that many 28x28 rows.
Peak resident memory of each process (including the memmap's file-backed
pages, which the kernel can drop) and peak anonymous memory (what scoring
itself holds) are printed next to the size of the memmap on disk. Scoring is chunked by scikit-learn's ``working_memory``.

    python benchmarks/bench_scoring_memory.py --rows 20000 100000 1000000
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import joblib
import numpy as np


def _anonymous_rss_mib() -> float:
    """Resident memory not backed by files (the memmap's pages are file-backed and evictable)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _score_in_child(model: Path, data: Path, n_rows: int) -> None:
    detector = joblib.load(model)
    X = np.memmap(data, dtype=np.float32, mode="r", shape=(n_rows, 784))
    peak_anonymous = [_anonymous_rss_mib()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak_anonymous.append(_anonymous_rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    scores = detector.score_samples(X)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert scores.shape == (n_rows,) and np.isfinite(scores).all()
    print(f"{n_rows}\t{seconds:.1f}\t{peak_rss:.0f}\t{max(peak_anonymous):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _score_in_child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return

    from danogan_sk import DAnoGANDetector

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)
        detector = DAnoGANDetector(n_epochs=1, xzx_epochs=0, image_shape=(28, 28), random_state=0)
        detector.fit(rng.random((512, 784), dtype=np.float32))
        joblib.dump(detector, tmp / "model.joblib")
        print("| rows | memmap on disk (MiB) | scoring s | rows/s | peak RSS (MiB) "
              "| peak anonymous RSS (MiB) |")
        print("|---|---|---|---|---|---|")
        for n_rows in args.rows:
            data = tmp / f"rows_{n_rows}.dat"
            X = np.memmap(data, dtype=np.float32, mode="w+", shape=(n_rows, 784))
            for start in range(0, n_rows, 50_000):  # fill without holding it all in memory
                stop = min(start + 50_000, n_rows)
                X[start:stop] = rng.random((stop - start, 784), dtype=np.float32)
            X.flush()
            del X
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(tmp / "model.joblib"), str(data), str(n_rows)],
                check=True, capture_output=True, text=True,
            ).stdout.split()
            seconds, peak, anonymous = float(out[1]), float(out[2]), float(out[3])
            disk = n_rows * 784 * 4 / 2**20
            print(f"| {n_rows:,} | {disk:,.0f} | {seconds:.0f} | {n_rows / seconds:,.0f} "
                  f"| {peak:,.0f} | {anonymous:,.0f} |")
            data.unlink()


if __name__ == "__main__":
    main()
