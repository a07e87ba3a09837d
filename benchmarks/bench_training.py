"""Training throughput of the library against the thesis's algorithm, side by side.

Run from the repository root::

    python benchmarks/bench_training.py                 # the full table
    python benchmarks/bench_training.py --quick         # 28x28 only, fewer repeats
    python benchmarks/bench_training.py --growth        # also 1 vs 15 vs 30 generators in turn
    python benchmarks/bench_training.py --critic-share  # also the critic steps' share of a cycle
    python benchmarks/bench_training.py --routing-device cuda  # only: both routing strategies there

A training cycle is ``n_critic`` critic steps plus one update of the
generators, encoders, classifier and bandit, on batches of real data. Both
implementations start from the same weights and draw the same random
numbers; their cycles are timed alternately and the median of the repeats is
reported as real samples per second (``n_critic * batch_size`` per cycle).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from yardstick import ThesisTrainer  # noqa: E402

from danogan_sk.nn import ROUTING_STRATEGIES, NetworkSpec, build_networks, to_fast_layout  # noqa: E402
from danogan_sk.training import (  # noqa: E402
    TrainingConfig,
    _critic_step,
    _draw_step,
    _EpochLog,
    _Optimizers,
    _phase1_steps,
)

_ENTROPY_WEIGHT = 10.0  # any value: the bandit's cost does not depend on it


class LibraryCycle:
    """One library training cycle: the update step, then ``n_critic - 1`` critic-only steps."""

    def __init__(
        self, spec: NetworkSpec, config: TrainingConfig, seed: int, device: str = "cpu", routing: str | None = None
    ) -> None:
        self.nets = to_fast_layout(build_networks(spec, seed), device)
        self.nets.routing = routing
        self.nets.train()
        self.opt = _Optimizers(self.nets, config)
        self.config = config
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, batches: list[torch.Tensor]) -> None:
        log = _EpochLog()
        _phase1_steps(self.nets, self.opt, batches, self.config, self.generator, True, _ENTROPY_WEIGHT, log)
        log.means()  # the library reads its log once per epoch; count it here


class LibraryCriticSteps:
    """The ``n_critic`` critic steps of a library cycle alone, on fakes generated once."""

    def __init__(self, cycle: LibraryCycle, real: torch.Tensor) -> None:
        self.cycle = cycle
        self.draws = _draw_step(cycle.nets, real, cycle.config, torch.Generator().manual_seed(1))
        with torch.no_grad():
            self.fake = cycle.nets.generate(self.draws.z, self.draws.cluster)

    def __call__(self, batches: list[torch.Tensor]) -> None:
        log = _EpochLog()
        for real in batches:
            _critic_step(self.cycle.nets, self.cycle.opt, real, self.fake, self.draws.eps, self.cycle.config, log)
        log.means()


class YardstickCycle:
    """The same cycle as the thesis runs it."""

    def __init__(self, spec: NetworkSpec, config: TrainingConfig, seed: int) -> None:
        nets = build_networks(spec, seed)
        nets.train()
        self.trainer = ThesisTrainer(nets, config, torch.Generator().manual_seed(seed))

    def __call__(self, batches: list[torch.Tensor]) -> None:
        for i, real in enumerate(batches):
            self.trainer.step(real, i == 0, _ENTROPY_WEIGHT)


def real_batches(
    shape: tuple[int, ...], batch_size: int, n: int, seed: int, device: str = "cpu"
) -> list[torch.Tensor]:
    """Stand-in real data in [-1, 1]: the cost does not depend on the pixel values."""
    gen = torch.Generator().manual_seed(seed)
    return [(torch.rand(batch_size, *shape, generator=gen) * 2 - 1).to(device) for _ in range(n)]


def _finish(device: torch.device) -> None:
    """Wait for the work queued on ``device``: a CUDA cycle returns before its kernels have run."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(runners: dict, batches: list[torch.Tensor], repeats: int) -> dict[str, float]:
    """Median seconds per cycle of each runner, the runners timed in turn within every repeat."""
    device = batches[0].device
    for run in runners.values():
        run(batches)  # warm-up: allocator, oneDNN or cuDNN kernels
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            _finish(device)
            start = time.perf_counter()
            run(batches)
            _finish(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(
    image_size: int, n_generators: int, batch_size: int, repeats: int, config: TrainingConfig
) -> tuple[float, float]:
    """Median samples per second of the library and the yardstick, timed alternately."""
    spec = NetworkSpec((1, image_size, image_size), n_generators=n_generators, latent_dim=30)
    batches = real_batches(spec.input_shape, batch_size, config.n_critic, seed=0)
    runners = {"library": LibraryCycle(spec, config, 0), "yardstick": YardstickCycle(spec, config, 0)}
    seconds = _median_seconds(runners, batches, repeats)
    samples = config.n_critic * batch_size
    return samples / seconds["library"], samples / seconds["yardstick"]


def measure_growth(
    image_size: int, generator_counts: list[int], batch_size: int, repeats: int, config: TrainingConfig
) -> dict[int, float]:
    """Library samples per second at each number of generators, timed alternately.

    The per-sample cost's growth with ``n_generators`` is a ratio of rows
    measured minutes apart in the main table; on a machine whose speed
    drifts, only rows timed in turn compare.
    """
    shape = (1, image_size, image_size)
    batches = real_batches(shape, batch_size, config.n_critic, seed=0)
    runners = {
        n: LibraryCycle(NetworkSpec(shape, n_generators=n, latent_dim=30), config, 0) for n in generator_counts
    }
    seconds = _median_seconds(runners, batches, repeats)
    return {n: config.n_critic * batch_size / seconds[n] for n in generator_counts}


def measure_critic_share(
    image_size: int, n_generators: int, batch_size: int, repeats: int, config: TrainingConfig
) -> dict[str, float]:
    """Median milliseconds of a library cycle and of its critic steps alone, timed alternately.

    What is left of the cycle is the generators', encoders', classifier's
    and bandit's work, most of it per-cluster blocks.
    """
    spec = NetworkSpec((1, image_size, image_size), n_generators=n_generators, latent_dim=30)
    batches = real_batches(spec.input_shape, batch_size, config.n_critic, seed=0)
    cycle = LibraryCycle(spec, config, 0)
    runners = {"cycle": cycle, "critic steps": LibraryCriticSteps(cycle, batches[0])}
    return {name: 1e3 * value for name, value in _median_seconds(runners, batches, repeats).items()}


def measure_routing(
    image_size: int, n_generators: int, batch_size: int, repeats: int, config: TrainingConfig, device: str
) -> dict[str, float]:
    """Library samples per second on ``device`` under each routing strategy, timed alternately.

    ``"loop"`` runs each cluster's rows through its own network and reads the
    cluster sizes back to the host; ``"stacked"`` runs every network on the
    whole batch at once and keeps each row's own output, with no such read
    (:func:`danogan_sk.nn.route`).
    """
    spec = NetworkSpec((1, image_size, image_size), n_generators=n_generators, latent_dim=30)
    batches = real_batches(spec.input_shape, batch_size, config.n_critic, seed=0, device=device)
    runners = {strategy: LibraryCycle(spec, config, 0, device, strategy) for strategy in ROUTING_STRATEGIES}
    seconds = _median_seconds(runners, batches, repeats)
    return {strategy: config.n_critic * batch_size / seconds[strategy] for strategy in ROUTING_STRATEGIES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    parser.add_argument("--generators", type=int, nargs="+", default=[1, 15, 30])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="timed cycles per implementation")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--quick", action="store_true", help="28x28 only, 3 repeats")
    parser.add_argument(
        "--growth", action="store_true",
        help="also time the library alone at every --generators count in turn: the per-sample cost's growth",
    )
    parser.add_argument(
        "--critic-share", action="store_true",
        help="also time a library cycle and its critic steps alone, in turn, at every size and --generators count",
    )
    parser.add_argument(
        "--routing-device", default=None, metavar="DEVICE",
        help="only time the library on DEVICE (e.g. cuda) under each routing strategy, in turn",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [28], 3
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainingConfig(batch_size=args.batch_size)
    if args.routing_device:
        print(f"torch {torch.__version__}, {torch.device(args.routing_device)}, batch {args.batch_size}, "
              f"n_critic {config.n_critic}, median of {args.repeats}")
        print("| size | generators | " + " | ".join(f"{s} samples/s" for s in ROUTING_STRATEGIES) + " |")
        print("|---:|---:|" + "---:|" * len(ROUTING_STRATEGIES))
        for size in args.sizes:
            for n_generators in args.generators:
                rates = measure_routing(size, n_generators, args.batch_size, args.repeats, config,
                                        args.routing_device)
                print(f"| {size}x{size} | {n_generators} | "
                      + " | ".join(f"{rates[s]:.0f}" for s in ROUTING_STRATEGIES) + " |", flush=True)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"n_critic {config.n_critic}, median of {args.repeats}")
    print("| size | generators | library samples/s | yardstick samples/s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for n_generators in args.generators:
            library, yardstick = measure(size, n_generators, args.batch_size, args.repeats, config)
            print(f"| {size}x{size} | {n_generators} | {library:.0f} | {yardstick:.0f} | "
                  f"{library / yardstick:.2f}x |", flush=True)
    if args.growth:
        print()
        print(f"| size | generators | library samples/s | cost per sample / at {args.generators[0]} |")
        print("|---:|---:|---:|---:|")
        for size in args.sizes:
            rates = measure_growth(size, args.generators, args.batch_size, args.repeats, config)
            first = rates[args.generators[0]]
            for n_generators, rate in rates.items():
                print(f"| {size}x{size} | {n_generators} | {rate:.0f} | {first / rate:.2f}x |", flush=True)
    if args.critic_share:
        print()
        print("| size | generators | library cycle ms | its critic steps ms | the rest ms |")
        print("|---:|---:|---:|---:|---:|")
        for size in args.sizes:
            for n_generators in args.generators:
                ms = measure_critic_share(size, n_generators, args.batch_size, args.repeats, config)
                print(f"| {size}x{size} | {n_generators} | {ms['cycle']:.0f} | {ms['critic steps']:.0f} | "
                      f"{ms['cycle'] - ms['critic steps']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
