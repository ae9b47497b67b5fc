"""Workload 5, the training workload under each installed Keras backend.

A Keras process has one backend, so each backend runs in its own worker
process (``python -m bench.backends --worker BACKEND --profile P``) that times
the training arms of :mod:`bench.training` (``backend_arms``: the trainer on the
CPU, the trainer and plain ``fit`` on a GPU) and prints one JSON line. A GPU
machine without TensorFlow can so still measure the model code on JAX and
torch. Ratios are throughput relative to the TensorFlow worker's (where it ran).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from bench.common import REPO_ROOT, Sizes, geomean, installed, rotated, sizes_for, usage

BACKENDS = (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
MARKER = "BENCH-BACKEND-RESULT "


def worker(backend: str, profile: str) -> dict[str, Any]:
    """Runs inside the worker process, KERAS_BACKEND already set."""
    import keras

    from bench import arms as arms_mod
    from bench.training import measure_family

    if keras.backend.backend() != backend:
        raise RuntimeError(f"worker for {backend} got keras backend {keras.backend.backend()}")
    sizes = sizes_for(profile)
    data = arms_mod.make_data(
        sizes.backend_n_train, sizes.n_val, sizes.window, sizes.n_features, sizes.horizons
    )
    families = {}
    with usage() as used:
        for cand in sizes.families[: sizes.backend_families]:
            families[cand.name] = measure_family(
                cand,
                sizes.backend_arms,
                data,
                epochs=sizes.backend_epochs,
                batch=sizes.batch,
                rounds=1,
            )
    from stacklstm_fin.training import describe_device

    return {"backend": backend, "device": describe_device(), "usage": used, "families": families}


def _launch(backend: str, profile: str) -> dict[str, Any]:
    """One worker process; its result, or the reason it failed."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    argv = [sys.executable, "-m", "bench.backends", "--worker", backend, "--profile", profile]
    proc = subprocess.run(
        argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith(MARKER)), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        return {"status": "error", "reason": f"worker exited {proc.returncode}: {tail}"}
    return {"status": "ok", **json.loads(line[len(MARKER) :])}


def _merge(rounds: list[dict[str, Any]], arms: Sequence[str]) -> dict[str, Any]:
    """A backend's rounds: every round kept, throughput the median over rounds."""
    families = rounds[0]["families"]
    sps = {
        arm: {
            f: statistics.median(r["families"][f][arm]["samples_per_s"] for r in rounds)
            for f in families
        }
        for arm in arms
    }
    return {"status": "ok", "device": rounds[0]["device"], "samples_per_s": sps, "rounds": rounds}


def run(sizes: Sizes, info: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    here = []
    # Every installed backend, the tiny profile too: the test suite so trains the
    # product's model code on JAX and torch as well (the GPU machine has no TensorFlow).
    for backend, module in BACKENDS:
        if installed(module):
            here.append(backend)
        else:
            results[backend] = {"status": "skipped", "reason": f"{module} is not installed"}
    # Rounds interleave the worker processes (round r starts with backend r), so a drift
    # of the machine's load does not favour the backend that happened to run first.
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in here}
    for r in range(sizes.backend_rounds):
        for backend in rotated(here, r):
            runs[backend].append(_launch(backend, sizes.profile))
    for backend, rounds in runs.items():
        failed = next((x for x in rounds if x["status"] != "ok"), None)
        results[backend] = failed or _merge(rounds, sizes.backend_arms)
    ratios: dict[str, float] = {}
    ok = {b: r for b, r in results.items() if r["status"] == "ok"}
    base = ok.get("tensorflow")
    for backend, res in ok.items():
        for arm in sizes.backend_arms:
            sps = res["samples_per_s"][arm]
            if base is not None and backend != "tensorflow":
                tf = base["samples_per_s"][arm]
                per = [sps[f] / tf[f] for f in sps if f in tf]
                ratios[f"ratio_{backend}_vs_tensorflow_{arm}"] = geomean(per)
        if "trainer" in sizes.backend_arms and "keras_fit" in sizes.backend_arms:
            sps = res["samples_per_s"]
            per = [sps["trainer"][f] / sps["keras_fit"][f] for f in sps["trainer"]]
            ratios[f"ratio_trainer_vs_keras_fit.{backend}"] = geomean(per)
    if not ok:
        from bench.common import Skipped

        raise Skipped(f"no Keras backend ran: {json.dumps(results)[:500]}")
    return {
        "backend": ",".join(ok),
        "config": {
            "arms": list(sizes.backend_arms),
            "n_train": sizes.backend_n_train,
            "epochs_per_call": sizes.backend_epochs,
            "rounds": sizes.backend_rounds,
            "batch": sizes.batch,
            "window": sizes.window,
            "n_features": sizes.n_features,
            "families": [c.name for c in sizes.families[: sizes.backend_families]],
        },
        "results": results,
        "ratios": ratios,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backends")
    parser.add_argument("--worker", required=True, choices=[b for b, _ in BACKENDS])
    parser.add_argument("--profile", default="full")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_BACKEND") != args.worker:
        parser.error(f"set KERAS_BACKEND={args.worker} for this worker")
    from bench.common import jsonable

    out = worker(args.worker, args.profile)
    print(MARKER + json.dumps(jsonable(out)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
