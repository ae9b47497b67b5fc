"""The benchmark harness: its arithmetic, and every workload run at its tiny sizes.

The tiny run goes through ``python -m bench`` as ``make bench`` does, in its
own process, so a change in the package that breaks a workload fails here and
not first in a long benchmark run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import common
from bench.common import ordering, percentile, rotated, sizes_for
from bench.datapath import linear_fit
from bench.end_to_end import growth
from bench.training import bootstrap_interval, flops_per_sample, paired_ratios
from stacklstm_fin.config import CandidateConfig

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = ("training", "inference", "datapath", "end_to_end", "backends")


def test_flops_per_sample_is_the_issue_formula() -> None:
    # 3 x window x sum_l 2·G·h·(i+h): layer 0 is 4 -> 32, layer 1 is 32 -> 16.
    stacked = CandidateConfig(name="s", family="stacked_lstm", units=(32, 16))
    assert flops_per_sample(stacked, 30, 4) == 3 * 30 * (2 * 4 * 32 * 36 + 2 * 4 * 16 * 48)
    gru = CandidateConfig(name="g", family="gru", units=(32, 16))
    assert flops_per_sample(gru, 30, 4) == 3 * 30 * (2 * 3 * 32 * 36 + 2 * 3 * 16 * 48)
    bilstm = CandidateConfig(name="b", family="bilstm", units=(8, 8))
    # both directions; layer 1 reads both directions' outputs (2 x 8)
    assert flops_per_sample(bilstm, 10, 2) == 3 * 10 * 2 * (2 * 4 * 8 * 10 + 2 * 4 * 8 * 24)


def test_statistics_helpers() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0], 100) == 3.0
    assert math.isnan(percentile([], 50))
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 3) == ["a", "b", "c"]
    fit = linear_fit([1000, 3000], [1.5, 2.5])
    assert fit["fixed_s"] == pytest.approx(1.0)
    assert fit["per_row_us"] == pytest.approx(500.0)


def test_ordering_balances_first_place_and_predecessors_over_every_order() -> None:
    arms = ["trainer", "keras_fit", "torch"]
    rounds = [ordering(arms, r) for r in range(6)]
    assert len({tuple(r) for r in rounds}) == 6
    assert Counter(r[0] for r in rounds) == {a: 2 for a in arms}
    follows = Counter((r[i - 1], r[i]) for r in rounds for i in range(1, 3))
    assert follows == {(a, b): 2 for a in arms for b in arms if a != b}
    assert ordering(arms, 6) == rounds[0]
    assert ordering(["trainer"], 5) == ["trainer"]


def test_paired_ratio_cancels_a_drift_that_hits_both_arms() -> None:
    # The machine slows down 3x over the rounds; arm a is always 10 % faster than b.
    results = {
        "a": {"per_round_samples_per_s": [110.0, 55.0, 33.0]},
        "b": {"per_round_samples_per_s": [100.0, 50.0, 30.0]},
    }
    assert paired_ratios(results, "a", "b") == pytest.approx([1.1, 1.1, 1.1])
    assert paired_ratios(results, "a", "missing") == []


def test_bootstrap_interval_holds_the_median_and_narrows_with_rounds() -> None:
    assert bootstrap_interval([[1.2, 1.2, 1.2]]) == pytest.approx((1.2, 1.2))
    rng = np.random.default_rng(3)
    few = [list(1.0 + 0.2 * rng.standard_normal(4)) for _ in range(3)]
    many = [list(1.0 + 0.2 * rng.standard_normal(40)) for _ in range(3)]
    lo_few, hi_few = bootstrap_interval(few)
    lo_many, hi_many = bootstrap_interval(many)
    assert lo_few <= float(np.exp(np.mean(np.log([np.median(r) for r in few])))) <= hi_few
    assert hi_many - lo_many < hi_few - lo_few
    assert lo_many < 1.0 < hi_many


def test_growth_exponent_is_one_for_linear_stages() -> None:
    runs = [
        {"tickers": 10, "total_s": 2.0, "stages_s": {"ingest": 1.0, "train_one": 5.0}},
        {"tickers": 100, "total_s": 20.0, "stages_s": {"ingest": 10.0, "train_one": 5.0}},
    ]
    out = growth(runs)["10->100"]
    assert out["total"] == pytest.approx(1.0)
    assert out["ingest"] == pytest.approx(1.0)
    assert out["train_one"] == pytest.approx(0.0)


def test_profiles_keep_the_make_bench_sizes() -> None:
    full = sizes_for("full")
    # The issue's sizes: 500 tickers x 20 years, 500 tickers for inference, 10/100/500 e2e.
    assert (full.dp_tickers, full.dp_years, full.infer_tickers) == (500, 20, 500)
    assert full.e2e_universes == (10, 100, 500)
    assert [c.units for c in full.families] == [(32, 16), (32, 16), (32,)]  # the demo's
    gpu = sizes_for("gpu")
    assert (gpu.window, gpu.n_features, gpu.batch) == (60, 8, 1024)
    with pytest.raises(ValueError, match="profile: expected one of tiny, quick, full, gpu"):
        sizes_for("huge")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-results")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLSTM_")}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--profile", "tiny", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    files = {w: json.loads((out / f"{w}-tiny.json").read_text()) for w in WORKLOADS}
    return {"stdout": proc.stdout, "files": files}


@pytest.mark.slow
def test_tiny_run_writes_one_result_per_workload(tiny_run: dict[str, Any]) -> None:
    for name, res in tiny_run["files"].items():
        assert res["workload"] == name
        assert res["status"] == "ok", res.get("reason")
        assert res["profile"] == "tiny"
        for key in ("machine", "versions", "sizes", "config", "results", "ratios", "usage"):
            assert key in res, f"{name}: no {key}"
        assert res["machine"]["cores"] >= 1
        assert res["versions"]["keras"]
    table = tiny_run["stdout"]
    assert "ratio_trainer_vs_keras_fit" in table
    assert "ratio_ort_vs_keras_predict" in table
    assert "acceptance: ratio_trainer_vs_keras_fit" in table


@pytest.mark.slow
def test_tiny_training_measures_every_arm_and_the_limits(tiny_run: dict[str, Any]) -> None:
    res = tiny_run["files"]["training"]
    assert res["backend"] == "tensorflow"
    ratio = res["ratio_trainer_vs_keras_fit"]
    lo, hi = res["ratio_intervals_90"]["ratio_trainer_vs_keras_fit"]
    assert 0 < lo <= ratio * (1 + 1e-9) and ratio <= hi * (1 + 1e-9)  # 1 round: lo == hi
    assert {"ratio_trainer_vs_keras_fit_pooled", "ratio_trainer_vs_keras_fit_cpu_time"} <= set(
        res["ratios"]
    )
    arms = res["results"]["stacked_lstm"]["arms"]
    expected = {"trainer", "keras_fit"} | ({"torch"} if common.installed("torch") else set())
    assert set(arms) == expected
    if not common.installed("torch"):
        assert "pip install torch" in res["skipped_arms"]["torch"]
    for arm in arms.values():
        assert arm["samples_per_s"] > 0
        assert arm["steady_epoch_s"]["n"] == 1  # tiny: 1 round x (2 epochs - 1 warm-up)
        limits = arm["limits"]
        assert 0 < limits["fraction_of_peak"] < 1
        assert limits["binding_bound"] in ("latency", "flops")
        assert limits["step_s_at_tiny_batch"] > 0
    assert res["peak"]["measured_gflops"] > 0


@pytest.mark.slow
def test_tiny_inference_compares_ort_with_keras(tiny_run: dict[str, Any]) -> None:
    res = tiny_run["files"]["inference"]
    assert res["ratio_ort_vs_keras_predict"] > 0
    family = res["results"]["stacked_lstm"]
    assert family["parity_max_abs_diff"] < 1e-4
    assert "LSTM" in family["op_types"]
    for batch in ("batch_1", "tickers_500"):
        arms = family["batches"][batch]
        assert set(arms) == {"ort", "keras_predict", "keras_predict_on_batch", "direct_call"}
        for arm in arms.values():
            assert 0 < arm["p50_ms"] <= arm["p99_ms"]


@pytest.mark.slow
def test_tiny_datapath_loads_every_row(tiny_run: dict[str, Any]) -> None:
    res = tiny_run["files"]["datapath"]["results"]
    rows = res["extract"]["rows"]
    assert rows == 3 * 250  # 3 tickers x the 250 XNYS sessions of 2025
    assert res["validate"]["rows_quarantined"] == 0
    assert res["load_duckdb"]["rows_in_table"] == rows
    pg = res["load_postgresql"]
    assert pg.get("rows_in_table") == rows or pg.get("status") == "skipped"
    assert res["features"]["rows_out"] == rows - 3 * 20  # volatility warm-up per ticker
    assert {"fixed_s", "per_row_us", "context_setup_s"} <= set(res["great_expectations"])


@pytest.mark.slow
def test_tiny_end_to_end_publishes_a_forecast_per_ticker(tiny_run: dict[str, Any]) -> None:
    res = tiny_run["files"]["end_to_end"]["results"]
    (run,) = res["runs"]
    assert run["tickers"] == 3
    assert run["forecast_rows"] == 3 * 5  # tickers x horizons
    stages = run["stages_s"]
    top = ("ingest", "prepare_dataset", "train_one", "select_and_promote", "forecast_and_publish")
    assert sum(stages[s] for s in top) <= run["total_s"]
    assert set(run["train_s_by_candidate"]) == {
        "stacked_lstm",
        "gru",
        "lstm",
        "random_walk",
        "ewma",
    }


@pytest.mark.slow
def test_tiny_backends_runs_a_worker_process(tiny_run: dict[str, Any]) -> None:
    res = tiny_run["files"]["backends"]["results"]
    # Each installed backend trains the product's model in its own worker process.
    for backend in ("tensorflow", "jax", "torch"):
        if not common.installed(backend):
            assert res[backend]["status"] == "skipped"
            continue
        assert res[backend]["status"] == "ok", res[backend].get("reason")
        assert res[backend]["samples_per_s"]["trainer"]["stacked_lstm"] > 0
        (round_,) = res[backend]["rounds"]
        assert round_["backend"] == backend
