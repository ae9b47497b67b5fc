"""Workload 1, training throughput: our trainer vs plain ``keras.Model.fit`` vs plain PyTorch.

Per neural family at equal size, the arms run interleaved, round r in the r-th
of every order of the arms (6 rounds run each order of 3 once: each arm runs
first, last and after each other arm equally often, so neither a drift of the
machine's load nor what the previous arm left behind favours one arm); each
fit call runs ``epochs`` epochs, the first holding the compile/trace time, the
rest steady state. Throughput is train windows per steady epoch second
(median). A ratio between two arms is paired: per round, one arm's median
steady epoch over the other's from the same round, then the median over
rounds, with a 90 % bootstrap interval over the rounds.

Why so many rounds: on 2 cores a TensorFlow epoch of the same code is bimodal
(0.33 s or 0.6 s for the 1-layer LSTM, at the same CPU seconds: its inter-op
threads either overlap or take turns), even on an otherwise idle machine. Four
rounds of four epochs gave trainer/fit ratios of 0.84 and 1.01 in two runs of
the same code; 30 epochs per arm in a dedicated A/B gave 1.00
(docs/performance.md).

The limit: FLOPs per epoch = 3 x windows x window x sum over layers of
2·G·h·(i+h) (G = 4 for LSTM, 3 for GRU; forward + backward = 3 x forward),
over the machine's peak (a large fp32 matrix product measured here). The
latency bound is batch / (seconds per step at a tiny batch): a step walks the
window's time steps one after another whatever the batch, so no batch size
makes a step cheaper than that.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench import arms as arms_mod
from bench.common import Sizes, geomean, installed, nominal_cpu_peak_gflops, ordering, summary
from stacklstm_fin.config import CandidateConfig

# Throughput ratios a/b reported per family and as the geometric mean over families.
PAIRS = (("trainer", "keras_fit"), ("torch", "keras_fit"), ("trainer", "torch"))
# The headline ratio is paired: per round, a's median steady epoch over b's from the
# same round (seconds apart, so a drift of the machine's load cancels), then the
# median over rounds. Beside it, ratio key suffix -> pooled throughput measure: the
# median over every steady epoch, the best epoch (what the code does when the machine
# leaves it alone: others' load only slows an epoch down), and CPU seconds (the work
# done, whoever else ran).
METRICS = {
    "_pooled": "samples_per_s",
    "_best": "best_samples_per_s",
    "_cpu_time": "cpu_samples_per_s",
}
BOOTSTRAP = 2000  # resamples of the rounds for the headline's 90 % interval
GATES = {"stacked_lstm": 4, "lstm": 4, "bilstm": 4, "gru": 3}


def flops_per_sample(candidate: CandidateConfig, window: int, n_features: int) -> float:
    """Training FLOPs for one window: 3 x window x sum_l 2·G·h·(i+h) (x2 if bidirectional)."""
    gates = GATES[candidate.family]
    inputs, total = n_features, 0.0
    for h in candidate.units:
        total += 2 * gates * h * (inputs + h)
        inputs = h * (2 if candidate.family == "bilstm" else 1)
    if candidate.family == "bilstm":
        total *= 2
    return 3.0 * window * total


def measure_peak(info: dict[str, Any]) -> dict[str, Any]:
    """The fp32 ceiling: the best of several large matrix products, on the GPU if there is one."""
    if installed("torch"):
        import torch

        if torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = False
            n = 8192
            a = torch.randn(n, n, device="cuda")
            b = torch.randn(n, n, device="cuda")
            best = math.inf
            for _ in range(12):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                a @ b
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            return {
                "device": torch.cuda.get_device_name(0),
                "how": f"torch fp32 matmul {n}^3, tf32 off, best of 12",
                "measured_gflops": 2 * n**3 / best / 1e9,
                "nominal_gflops": None,
            }
    n = 2048
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = math.inf
    for _ in range(10):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return {
        "device": "cpu",
        "how": f"numpy fp32 matmul {n}^3, best of 10",
        "measured_gflops": 2 * n**3 / best / 1e9,
        "nominal_gflops": nominal_cpu_peak_gflops(info),
    }


def available_arms(wanted: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The arms that can run here, and why the others cannot."""
    ok, skipped = [], {}
    for arm in wanted:
        if arm == "torch" and not installed("torch"):
            skipped[arm] = (
                "torch is not installed: pip install -c constraints.txt -e '.[bench]' "
                "(make venv does)"
            )
        else:
            ok.append(arm)
    return ok, skipped


def measure_family(
    candidate: CandidateConfig,
    arms: Sequence[str],
    data: arms_mod.Data,
    *,
    epochs: int,
    batch: int,
    rounds: int,
) -> dict[str, Any]:
    """Interleaved fit calls of every arm on one family; raw epoch times and medians."""
    runs: dict[str, list[arms_mod.ArmRun]] = {arm: [] for arm in arms}
    for r in range(rounds):
        for arm in ordering(list(arms), r):
            runs[arm].append(arms_mod.run_arm(arm, candidate, data, epochs, batch))
    n = data.x.shape[0]
    out: dict[str, Any] = {}
    for arm, calls in runs.items():
        epoch_s = summary([s for c in calls for s in c.steady_s])
        cpu_s = summary([s for c in calls for s in c.steady_cpu_s])
        out[arm] = {
            "samples_per_s": n / epoch_s["median"],
            "best_samples_per_s": n / epoch_s["min"],
            "cpu_samples_per_s": n / cpu_s["median"],
            "steady_epoch_s": epoch_s,
            "steady_epoch_cpu_s": cpu_s,
            "per_round_samples_per_s": [n / float(np.median(c.steady_s)) for c in calls],
            "per_round_cpu_samples_per_s": [n / float(np.median(c.steady_cpu_s)) for c in calls],
            "first_epoch_s": summary([c.epoch_s[0] for c in calls]),
            "compile_s": summary([c.compile_s for c in calls]),
            "call_s": summary([c.call_s for c in calls]),
            "info": calls[-1].info,
        }
    return out


def paired_ratios(
    results: dict[str, Any], a: str, b: str, measure: str = "per_round_samples_per_s"
) -> list[float]:
    """Per-round throughput ratios a/b (the same round saw the same machine load)."""
    if a not in results or b not in results:
        return []
    pa, pb = results[a][measure], results[b][measure]
    return [x / y for x, y in zip(pa, pb, strict=True)]


def bootstrap_interval(
    per_family: Sequence[Sequence[float]], *, resamples: int = BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """90 % interval of the geometric mean over families of each family's median ratio.

    Each family's rounds are resampled with replacement, independently (the families
    ran at different times); with one family it is that family's median's interval.
    """
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(resamples):
        medians = [float(np.median(rng.choice(np.asarray(r), size=len(r)))) for r in per_family]
        stats.append(geomean(medians))
    lo, hi = np.percentile(stats, [5, 95])
    return float(lo), float(hi)


def limits(
    candidate: CandidateConfig,
    arm_result: dict[str, Any],
    sizes: Sizes,
    n_train: int,
    peak: dict[str, Any],
    step_s: float | None,
) -> dict[str, Any]:
    """Achieved FLOP rate, its fraction of the peak, and the latency bound."""
    per_sample = flops_per_sample(candidate, sizes.window, sizes.n_features)
    sps = arm_result["samples_per_s"]
    achieved = sps * per_sample / 1e9
    peak_gflops = peak["measured_gflops"]
    flop_bound_sps = peak_gflops * 1e9 / per_sample
    out: dict[str, Any] = {
        "flops_per_epoch": per_sample * n_train,
        "achieved_gflops": achieved,
        "fraction_of_peak": achieved / peak_gflops,
        "flop_bound_samples_per_s": flop_bound_sps,
    }
    if step_s:
        latency_bound = sizes.batch / step_s
        bound = min(latency_bound, flop_bound_sps)
        out.update(
            tiny_batch=sizes.tiny_batch,
            step_s_at_tiny_batch=step_s,
            latency_bound_samples_per_s=latency_bound,
            binding_bound="latency" if latency_bound < flop_bound_sps else "flops",
            fraction_of_bound=sps / bound,
        )
    return out


def run(sizes: Sizes, info: dict[str, Any]) -> dict[str, Any]:
    import keras

    wanted = arms_mod.ARMS
    arms, skipped = available_arms(wanted)
    data = arms_mod.make_data(
        sizes.n_train, sizes.n_val, sizes.window, sizes.n_features, sizes.horizons
    )
    peak = measure_peak(info)
    families: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    paired_by_family: dict[str, list[list[float]]] = {}
    for cand in sizes.families:
        res = measure_family(
            cand, arms, data, epochs=sizes.epochs, batch=sizes.batch, rounds=sizes.rounds
        )
        steps = {
            "keras": arms_mod.keras_step_seconds(cand, data, sizes.tiny_batch, sizes.tiny_steps)
        }
        if "torch" in arms:
            steps["torch"] = arms_mod.torch_step_seconds(
                cand, data, sizes.tiny_batch, sizes.tiny_steps
            )
        for arm, arm_res in res.items():
            step = steps["torch" if arm == "torch" else "keras"]
            arm_res["limits"] = limits(cand, arm_res, sizes, sizes.n_train, peak, step)
        pairs: dict[str, Any] = {}
        for a, b in PAIRS:
            if a in res and b in res:
                key = f"{a}_vs_{b}"
                paired = paired_ratios(res, a, b)
                ratios[f"ratio_{key}.{cand.name}"] = float(np.median(paired))
                for suffix, metric in METRICS.items():
                    ratios[f"ratio_{key}{suffix}.{cand.name}"] = res[a][metric] / res[b][metric]
                pairs[key] = summary(paired)
                pairs[f"{key}_cpu_time"] = summary(
                    paired_ratios(res, a, b, "per_round_cpu_samples_per_s")
                )
                paired_by_family.setdefault(key, []).append(paired)
        families[cand.name] = {
            "candidate": {
                "family": cand.family,
                "units": list(cand.units),
                "dropout": cand.dropout,
            },
            "flops_per_sample": flops_per_sample(cand, sizes.window, sizes.n_features),
            "arms": res,
            "paired_ratios": pairs,
        }
    for a, b in PAIRS:
        for suffix in ("", *METRICS):
            head = f"ratio_{a}_vs_{b}{suffix}."
            per = [v for k, v in ratios.items() if k.startswith(head)]
            if per:
                ratios[head[:-1]] = geomean(per)
    intervals = {f"ratio_{key}": bootstrap_interval(per) for key, per in paired_by_family.items()}
    return {
        "backend": keras.backend.backend(),
        "config": {
            "arms": list(wanted),
            "epochs_per_call": sizes.epochs,
            "rounds": sizes.rounds,
            "batch": sizes.batch,
            "n_train": sizes.n_train,
            "n_val": sizes.n_val,
            "window": sizes.window,
            "n_features": sizes.n_features,
            "horizons": sizes.horizons,
            "tiny_batch": sizes.tiny_batch,
            "tiny_steps": sizes.tiny_steps,
        },
        "skipped_arms": skipped,
        "peak": peak,
        "results": families,
        "ratios": ratios,
        # 90 % bootstrap interval of each headline ratio, over the rounds
        "ratio_intervals_90": intervals,
    }
