"""``python -m bench [--quick | --gpu] [--only W,...] [--out DIR]``: run, write JSON, print ratios.

Each workload writes ``<out>/<workload>-<profile>.json`` (default out:
``bench/results/``) with the machine, backend, versions, config, raw numbers and
ratios, whether it ran, was skipped (and why) or failed. The exit status is
non-zero only when a workload failed; an acceptance line that does not hold is
reported, not raised.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORKLOADS = ("training", "inference", "datapath", "end_to_end", "backends")
# (workload, ratio key, threshold, profiles it applies to): the acceptance lines.
ACCEPTANCE = (
    ("training", "ratio_trainer_vs_keras_fit", 0.9, ("full", "quick")),
    ("inference", "ratio_ort_vs_keras_predict", 5.0, ("full", "quick")),
)


def _pick_backend() -> None:
    """TensorFlow when installed (the product's default), else JAX, else torch."""
    if "KERAS_BACKEND" in os.environ:
        return
    from bench.common import installed

    for backend, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if installed(module):
            os.environ["KERAS_BACKEND"] = backend
            return


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    mode.add_argument("--gpu", action="store_true", help="bigger sizes for a CUDA machine")
    mode.add_argument(
        "--profile",
        choices=("tiny", "quick", "full", "gpu"),
        help="sizes by name (tiny: the test suite's)",
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of {WORKLOADS}")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON files")
    args = parser.parse_args(argv)
    args.profile = args.profile or ("quick" if args.quick else "gpu" if args.gpu else "full")
    args.only = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    unknown = sorted(set(args.only) - set(WORKLOADS))
    if unknown:
        parser.error(f"--only: unknown workload(s) {unknown}; expected some of {WORKLOADS}")
    return args


def run_workload(name: str, sizes: Any, info: dict[str, Any]) -> dict[str, Any]:
    from bench.common import Skipped, usage, versions

    started = dt.datetime.now(dt.UTC)
    payload: dict[str, Any] = {}
    with usage() as used:
        try:
            module = importlib.import_module(f"bench.{name}")
            payload = module.run(sizes, info)
            status, reason = "ok", None
        except Skipped as exc:
            status, reason = "skipped", str(exc)
        except Exception as exc:  # a broken workload must not hide the others' numbers
            status, reason = "error", f"{type(exc).__name__}: {exc}"
            payload = {"traceback": traceback.format_exc()}
    ratios = payload.get("ratios", {})
    return {
        "workload": name,
        "profile": sizes.profile,
        "status": status,
        "reason": reason,
        "started_at": started.isoformat(timespec="seconds"),
        **{k: v for k, v in ratios.items() if "." not in k},  # headline ratios on top
        "machine": info,
        "versions": versions(),
        "usage": used,
        "sizes": sizes.to_dict(),
        **payload,
    }


def ratio_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "ratio_A_vs_B = throughput of A / throughput of B (> 1: A is faster); per family",
        "and per batch size in the JSON files; [lo, hi]: 90 % bootstrap interval over rounds.",
        f"{'workload':<11} {'ratio':<50} {'value':>9}  {'90 % interval':<16}",
        "-" * 90,
    ]
    for res in results:
        if res["status"] != "ok":
            lines.append(f"{res['workload']:<11} {res['status']}: {res['reason']}"[:200])
            continue
        intervals = res.get("ratio_intervals_90", {})
        for key, value in res.get("ratios", {}).items():
            if "." in key:  # per family / batch: in the JSON file
                continue
            shown = "n/a" if value is None else f"{value:9.3f}"
            ci = intervals.get(key)
            ci_shown = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            lines.append(f"{res['workload']:<11} {key:<50} {shown:>9}  {ci_shown}")
    lines.append("-" * 90)
    for workload, key, threshold, profiles in ACCEPTANCE:
        res = next((r for r in results if r["workload"] == workload), None)
        if res is None or res["status"] != "ok":
            continue
        value = res.get(key)
        if res["profile"] not in profiles:
            verdict = f"not judged in profile {res['profile']}"
        else:
            verdict = "holds" if value is not None and value >= threshold else "DOES NOT HOLD"
        shown = "n/a" if value is None else f"{value:.3f}"
        ci = res.get("ratio_intervals_90", {}).get(key)
        if ci:
            shown += f" (90 % interval {ci[0]:.3f}-{ci[1]:.3f})"
        lines.append(f"acceptance: {key} = {shown} >= {threshold}: {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _pick_backend()
    # tf.function retracing warnings: every fit call builds a new model, on purpose.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from bench.common import RESULTS_DIR, machine, sizes_for, write_result

    sizes = sizes_for(args.profile)
    out_dir = args.out or RESULTS_DIR
    info = machine()
    results = []
    for name in WORKLOADS:
        if name not in args.only:
            continue
        print(f"[bench] {name} ({args.profile}) ...", file=sys.stderr, flush=True)
        res = run_workload(name, sizes, info)
        path = write_result(out_dir, f"{name}-{args.profile}", res)
        wall = res["usage"]["wall_s"]
        print(
            f"[bench] {name}: {res['status']} in {wall:.0f} s -> {path}",
            file=sys.stderr,
            flush=True,
        )
        if res["status"] == "error":
            print(res.get("traceback", ""), file=sys.stderr)
        results.append(res)
    print(ratio_table(results))
    return 1 if any(r["status"] == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
