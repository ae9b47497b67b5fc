"""What every workload shares: sizes per profile, the machine, versions, statistics, JSON.

A *profile* fixes every size: ``full`` is ``make bench`` (the 2-core CPU, under
15 minutes), ``quick`` a few minutes, ``tiny`` the test suite's seconds, ``gpu``
the bigger sizes of ``make bench-gpu``. The sizes travel into each result file,
so a number is never separated from what it measured.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stacklstm_fin.config import CandidateConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("tiny", "quick", "full", "gpu")
# Packages whose versions go into every result file (missing ones are recorded as null).
VERSIONED = (
    "stacklstm-fin",
    "keras",
    "tensorflow",
    "torch",
    "jax",
    "jaxlib",
    "numpy",
    "onnx",
    "onnxruntime",
    "tf2onnx",
    "polars",
    "pandas",
    "pyarrow",
    "duckdb",
    "psycopg",
    "great-expectations",
)


class Skipped(Exception):
    """A workload (or arm) that cannot run here; the message says why and how to enable it."""


def _demo(name: str) -> CandidateConfig:
    from stacklstm_fin.config import DEFAULT_CANDIDATES

    return next(c for c in DEFAULT_CANDIDATES if c.name == name)


def _families(units: tuple[int, ...] | None, names: Sequence[str]) -> tuple[CandidateConfig, ...]:
    """The demo's neural candidates, or the same families at ``units`` per layer."""
    out = []
    for name in names:
        demo = _demo(name)
        if units is not None:
            layer_units = units[:1] if demo.family == "lstm" else units
            demo = dataclasses.replace(demo, units=layer_units)
        out.append(demo)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Every size of one profile."""

    profile: str
    # training (and backends): arrays (n, window, n_features) -> (n, horizons)
    families: tuple[CandidateConfig, ...]
    window: int
    n_features: int
    horizons: int
    batch: int
    n_train: int
    n_val: int
    epochs: int  # per fit call; the first epoch holds the compile/trace time
    rounds: int  # interleaved repeats of every arm; 6 runs every order of 3 arms once
    tiny_batch: int  # the latency bound's batch
    tiny_steps: int
    # backends: each installed Keras backend in its own process
    backend_arms: tuple[str, ...]
    backend_families: int  # the first N families
    backend_n_train: int
    backend_epochs: int
    backend_rounds: int  # interleaved worker processes per backend
    # inference
    infer_families: int
    infer_tickers: int
    infer_reps: int  # latency samples per arm and batch size
    infer_slow_reps: int  # for the eager direct call
    # data path
    dp_tickers: int
    dp_years: int
    gx_sizes: tuple[int, ...]  # rows for the GX fixed/per-row fit, besides the full frame
    feature_repeats: int
    # end to end
    e2e_universes: tuple[int, ...]
    e2e_sessions: int  # history per ticker
    e2e_split_sessions: int  # test and validation sessions each
    e2e_epochs: int
    e2e_cli: bool  # also time `stacklstm-fin run` as a process for the smallest universe

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["families"] = [
            {"name": c.name, "family": c.family, "units": list(c.units), "dropout": c.dropout}
            for c in self.families
        ]
        return out


_DEMO_NAMES = ("stacked_lstm", "gru", "lstm")

# The full CPU profile (`make bench`); the others change what they list.
_FULL: dict[str, Any] = dict(
    window=30,
    n_features=4,
    horizons=5,
    batch=256,
    n_train=8192,
    n_val=512,
    epochs=4,
    rounds=6,
    tiny_batch=1,
    tiny_steps=64,
    backend_arms=("trainer",),
    backend_families=3,
    backend_n_train=8192,
    backend_epochs=3,
    backend_rounds=1,
    infer_families=3,
    infer_tickers=500,
    infer_reps=30,
    infer_slow_reps=8,
    dp_tickers=500,
    dp_years=20,
    gx_sizes=(2_000, 200_000),
    feature_repeats=3,
    e2e_universes=(10, 100, 500),
    e2e_sessions=450,
    e2e_split_sessions=100,
    e2e_epochs=1,
    e2e_cli=True,
)
_CHANGES: dict[str, dict[str, Any]] = {
    "full": {},
    "quick": dict(
        n_train=4096,
        n_val=256,
        epochs=3,
        rounds=6,
        backend_families=1,
        backend_n_train=2048,
        backend_rounds=1,
        infer_reps=20,
        infer_slow_reps=5,
        dp_tickers=50,
        dp_years=5,
        gx_sizes=(2_000, 50_000),
        feature_repeats=2,
        e2e_universes=(10, 50),
        e2e_cli=False,
    ),
    "tiny": dict(
        n_train=512,
        n_val=64,
        epochs=2,
        rounds=1,
        tiny_steps=8,
        backend_families=1,
        backend_n_train=256,
        backend_epochs=2,
        backend_rounds=1,
        infer_families=1,
        infer_reps=3,
        infer_slow_reps=2,
        dp_tickers=3,
        dp_years=1,
        gx_sizes=(500,),
        feature_repeats=1,
        e2e_universes=(3,),
        e2e_sessions=320,
        e2e_split_sessions=30,
        e2e_epochs=1,
        e2e_cli=False,
    ),
    # The sizes of the GPU measurements in shared/NOTES.md (fp32, batch 1024, window 60,
    # 8 features, 2 x 128 layers); the CPU-bound workloads keep the full sizes.
    "gpu": dict(
        window=60,
        n_features=8,
        batch=1024,
        n_train=65_536,
        n_val=4096,
        epochs=4,
        backend_arms=("trainer", "keras_fit"),
        backend_n_train=65_536,
        backend_rounds=1,
        e2e_cli=False,
    ),
}


def sizes_for(profile: str) -> Sizes:
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {', '.join(PROFILES)}, got {profile!r}")
    if profile == "gpu":
        families = _families((128, 128), _DEMO_NAMES)
    elif profile == "tiny":
        families = _families((8, 4), _DEMO_NAMES[:1])
    else:
        families = _families(None, _DEMO_NAMES)  # the demo's own sizes
    return Sizes(profile=profile, families=families, **{**_FULL, **_CHANGES[profile]})


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """The machine in words and numbers: CPU, cores, memory, load, GPU if any."""
    cpu_model, mhz, flags = "", None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and not cpu_model:
                cpu_model = value
            elif key == "cpu MHz" and mhz is None:
                mhz = float(value)
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model or platform.processor(),
        "cpu_mhz": mhz,
        "cores": cores,
        "simd": simd,
        "memory_gib": mem_gib,
        "loadavg": list(os.getloadavg()),
        "gpu": gpu_name(),
    }


def gpu_name() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None


def nominal_cpu_peak_gflops(info: dict[str, Any]) -> float | None:
    """cores x clock x fp32 FLOP per cycle (two FMA units assumed: 64 AVX-512, 32 AVX2)."""
    per_cycle = {"avx512f": 64, "avx2": 32}.get(info.get("simd", ""), 0)
    if not per_cycle or not info.get("cpu_mhz") or not info.get("cores"):
        return None
    return float(info["cores"] * info["cpu_mhz"] * 1e-3 * per_cycle)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, spread and the raw samples (seconds, or whatever was measured)."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0}
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "p10": percentile(vals, 10),
        "p90": percentile(vals, 90),
        "min": min(vals),
        "max": max(vals),
        "raw": [round(v, 6) for v in vals],
    }


def geomean(values: Sequence[float]) -> float:
    vals = [v for v in values if v > 0 and math.isfinite(v)]
    if not vals:
        return math.nan
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def ordering(items: Sequence[Any], k: int) -> list[Any]:
    """The ``k``-th of every order of ``items`` (cycling): over len(items)! rounds each
    item runs first, last, and right after each other item equally often, so neither a
    drift of the machine's load nor what an arm leaves behind (threads, caches, the
    allocator) favours one arm."""
    orders = list(itertools.permutations(items))
    return list(orders[k % len(orders)]) if orders else []


def rotated(items: Sequence[Any], k: int) -> list[Any]:
    """``items`` rotated by ``k``: interleaved rounds start with a different arm each time."""
    k %= max(len(items), 1)
    return [*items[k:], *items[:k]]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


@contextmanager
def usage() -> Iterator[dict[str, float]]:
    """Wall time and the CPU time this process (and its children) got: the noise gauge.

    ``cpu_share`` near the core count means the machine was ours; far below it,
    other processes took the cores (the numbers are then noisier and lower).
    """
    out: dict[str, float] = {}
    load0 = os.getloadavg()[0]
    r0s, r0c = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    started = time.perf_counter()
    try:
        yield out
    finally:
        wall = time.perf_counter() - started
        r1s = resource.getrusage(resource.RUSAGE_SELF)
        r1c = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1s.ru_utime - r0s.ru_utime + r1s.ru_stime - r0s.ru_stime) + (
            r1c.ru_utime - r0c.ru_utime + r1c.ru_stime - r0c.ru_stime
        )
        out.update(
            wall_s=round(wall, 3),
            cpu_s=round(cpu, 3),
            cpu_share=round(cpu / wall, 3) if wall > 0 else math.nan,
            loadavg_1m_before=load0,
            loadavg_1m_after=os.getloadavg()[0],
        )


# --------------------------------------------------------------------------- results


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return jsonable(item())
    return value


def write_result(out_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(jsonable(payload), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path
