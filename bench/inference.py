"""Workload 2, inference: onnxruntime on the exported model vs Keras predict vs a direct call.

Per family, the model the product builds (``build_model``) is exported with the
product's exporter and loaded the way publishing loads it (sha256-checked
bytes, the package's session options). Two batch sizes: 1 window, and one
window per ticker for ``infer_tickers`` tickers (what a nightly forecast runs).
Arms, timed per call and interleaved call by call:

- ``ort``: ``run_onnx(session, x)``
- ``keras_predict``: ``model.predict(x, verbose=0)`` as a user calls it
- ``keras_predict_on_batch``: the package's ``training.predict`` (``predict_on_batch``)
- ``direct_call``: ``model(x, training=False)`` (eager; fewer samples, it is slow)

The weights are the freshly initialised ones: values do not change the work.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Sizes, Skipped, geomean, percentile, rotated, summary

ARMS = ("ort", "keras_predict", "keras_predict_on_batch", "direct_call")
SLOW_ARMS = ("direct_call",)


def _latencies(
    fns: dict[str, Callable[[], Any]], reps: int, slow_reps: int, warmup: int = 2
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per-call seconds of each arm, arms interleaved call by call; first-call seconds apart."""
    first: dict[str, float] = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0
        for _ in range(warmup - 1):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(reps):
        for name in rotated(names, r):
            if name in SLOW_ARMS and r >= slow_reps:
                continue
            t0 = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - t0)
    return samples, first


def _stats(seconds: list[float], batch: int) -> dict[str, Any]:
    out = summary(seconds)
    out["p50_ms"] = percentile(seconds, 50) * 1e3
    out["p99_ms"] = percentile(seconds, 99) * 1e3
    out["windows_per_s"] = batch / percentile(seconds, 50)
    return out


def run(sizes: Sizes, info: dict[str, Any]) -> dict[str, Any]:
    import keras

    if keras.backend.backend() != "tensorflow":
        from bench.common import installed

        where = "installed" if installed("tensorflow") else "not installed"
        raise Skipped(
            f"the ONNX export needs the TensorFlow backend, this process has "
            f"{keras.backend.backend()!r} (tensorflow: {where})"
        )
    from bench.arms import make_data
    from stacklstm_fin.export import export_onnx, load_onnx_session, run_onnx
    from stacklstm_fin.features.returns import FEATURE_NAMES
    from stacklstm_fin.models import build_model
    from stacklstm_fin.training import predict

    n_features = len(FEATURE_NAMES)
    data = make_data(sizes.infer_tickers, 16, sizes.window, n_features, sizes.horizons, seed=3)
    batches = {"batch_1": data.x[:1], f"tickers_{sizes.infer_tickers}": data.x}
    results: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    for cand in sizes.families[: sizes.infer_families]:
        shape: dict[str, Any] = dict(
            window=sizes.window,
            n_features=n_features,
            horizons=sizes.horizons,
            feature_mean=data.mean,
            feature_std=data.std,
            target_std=data.target_std,
        )
        keras.utils.set_random_seed(0)
        model = build_model(cand, **shape)
        with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
            t0 = time.perf_counter()
            exported = export_onnx(
                model, cand, **shape, feature_names=FEATURE_NAMES, path=Path(tmp) / "model.onnx"
            )
            export_s = time.perf_counter() - t0
            onnx_bytes = exported.path.read_bytes()
        t0 = time.perf_counter()
        session = load_onnx_session(onnx_bytes, exported.sha256)
        load_s = time.perf_counter() - t0
        parity = float(np.max(np.abs(run_onnx(session, data.x) - predict(model, data.x))))
        per_batch: dict[str, Any] = {}
        for label, x in batches.items():
            fns: dict[str, Callable[[], Any]] = {
                "ort": lambda x=x, s=session: run_onnx(s, x),
                "keras_predict": lambda x=x, m=model: m.predict(x, verbose=0),
                "keras_predict_on_batch": lambda x=x, m=model: predict(m, x),
                "direct_call": lambda x=x, m=model: np.asarray(m(x, training=False)),
            }
            samples, first = _latencies(fns, sizes.infer_reps, sizes.infer_slow_reps)
            arms = {name: _stats(s, len(x)) for name, s in samples.items()}
            for name in arms:
                arms[name]["first_call_s"] = first[name]
            per_batch[label] = arms
            ort = arms["ort"]["median"]
            for other in ARMS[1:]:
                ratios[f"ratio_ort_vs_{other}.{cand.name}.{label}"] = arms[other]["median"] / ort
        results[cand.name] = {
            "candidate": {"family": cand.family, "units": list(cand.units)},
            "export_s": export_s,
            "session_load_s": load_s,
            "onnx_bytes": len(onnx_bytes),
            "op_types": list(exported.op_types),
            "parity_max_abs_diff": parity,
            "batches": per_batch,
        }
    big = f"tickers_{sizes.infer_tickers}"
    for other in ARMS[1:]:
        for label in batches:
            head, tail = f"ratio_ort_vs_{other}.", f".{label}"
            per = [v for k, v in ratios.items() if k.startswith(head) and k.endswith(tail)]
            suffix = "" if label == big else f".{label}"
            ratios[f"ratio_ort_vs_{other}{suffix}"] = geomean(per)
    return {
        "backend": keras.backend.backend(),
        "config": {
            "arms": list(ARMS),
            "batches": {k: len(v) for k, v in batches.items()},
            "reps": sizes.infer_reps,
            "direct_call_reps": sizes.infer_slow_reps,
            "window": sizes.window,
            "n_features": n_features,
            "horizons": sizes.horizons,
            "ratio_definition": "median latency of the other arm / median latency of ort",
            "headline_ratios": f"geometric mean over families at {big}",
        },
        "results": results,
        "ratios": ratios,
    }
