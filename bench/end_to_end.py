"""Workload 4, end to end: ``stacklstm-fin run`` on synthetic universes of growing size.

Each universe gets a fresh data root and DuckDB warehouse (``init-db``), then
``run_all`` (what the CLI's ``run`` calls) with the demo's candidates; every
stage is timed by wrapping the pipeline functions ``run_all`` calls, so the
numbers are of the real run, not of a re-implementation. Growth exponents
``log(t_b / t_a) / log(n_b / n_a)`` say how each stage scales with the universe
(1.0 = linear). In the full profile the smallest universe is also run as a
process (``python -m stacklstm_fin.cli init-db`` + ``run``) to show what the
command line adds (interpreter, imports).

History and epochs are cut (``e2e_sessions``, ``e2e_epochs``: see the result's
config) so that the 500-ticker run fits the CPU budget; the model config is the
demo's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Sizes
from bench.datapath import AS_OF, bench_config, timing_wrapper

# (module, function) pairs whose calls are timed; run_all calls them by these names.
STAGES = (
    ("stacklstm_fin.pipeline.run", "ingest"),
    ("stacklstm_fin.pipeline.ingest", "extract"),
    ("stacklstm_fin.pipeline.ingest", "validate_snapshot"),
    ("stacklstm_fin.pipeline.ingest", "load_batch"),
    ("stacklstm_fin.pipeline.run", "prepare_dataset"),
    ("stacklstm_fin.pipeline.run", "train_one"),
    ("stacklstm_fin.pipeline.run", "select_and_promote"),
    ("stacklstm_fin.pipeline.run", "forecast_and_publish"),
    ("stacklstm_fin.pipeline.publish", "forecast"),
    ("stacklstm_fin.pipeline.publish", "publish"),
)


@contextlib.contextmanager
def stage_timers() -> Iterator[dict[str, list[float]]]:
    import importlib

    times: dict[str, list[float]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        for module_name, func in STAGES:
            module = importlib.import_module(module_name)
            stack.enter_context(timing_wrapper(module, func, times[func]))
        yield times


def overrides_for(sizes: Sizes, n: int) -> dict[str, Any]:
    from stacklstm_fin.calendar import TradingCalendar
    from stacklstm_fin.sources.synthetic import synthetic_tickers

    sessions = TradingCalendar().sessions(dt.date(2015, 1, 2), AS_OF)
    return {
        "source.name": "synthetic",
        "universe.tickers": list(synthetic_tickers(n)),
        "source.synthetic.start": sessions[-sizes.e2e_sessions],
        "dataset.test_sessions": sizes.e2e_split_sessions,
        "dataset.validation_sessions": sizes.e2e_split_sessions,
        "training.epochs": sizes.e2e_epochs,
    }


def run_universe(sizes: Sizes, n: int, root: Path) -> dict[str, Any]:
    from stacklstm_fin.features.storage import load_dataset
    from stacklstm_fin.pipeline.run import run_all
    from stacklstm_fin.warehouse import connect, migrate

    cfg = bench_config(root, overrides_for(sizes, n))
    t0 = time.perf_counter()
    with connect(cfg.warehouse_url) as wh:
        migrate(wh)
        init_s = time.perf_counter() - t0
        with stage_timers() as times:
            t0 = time.perf_counter()
            out = run_all(cfg, wh, AS_OF)
            total_s = time.perf_counter() - t0
    names = [c.name for c in cfg.models.candidates]
    stages = {name: sum(v) for name, v in times.items()}
    ds_file = next(root.glob("runs/*/dataset.npz"))
    ds = load_dataset(ds_file)
    return {
        "tickers": n,
        "init_db_s": init_s,
        "total_s": total_s,
        "stages_s": stages,
        "train_s_by_candidate": dict(zip(names, times["train_one"], strict=True)),
        "windows": {"train": ds.train.n, "validation": ds.validation.n, "test": ds.test.n},
        "rows_loaded": out["ingest"]["rows_loaded"],
        "champion": out["selection"]["champion"],
        "ranking": out["selection"]["ranking"],
        "forecast_rows": out["forecast"]["rows"],
    }


def run_cli(sizes: Sizes, n: int, root: Path) -> dict[str, Any]:
    """``init-db`` and ``run`` as processes, configured through STACKLSTM_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLSTM_")}
    for key, value in {**overrides_for(sizes, n), "paths.data_root": str(root)}.items():
        name = "STACKLSTM_" + key.upper().replace(".", "__")
        env[name] = _toml_literal(value)
    empty = root / "bench.toml"
    root.mkdir(parents=True, exist_ok=True)
    empty.write_text("")
    out: dict[str, Any] = {"tickers": n}
    for command in ("init-db", "run"):
        argv = [sys.executable, "-m", "stacklstm_fin.cli", command, "--config", str(empty)]
        if command == "run":
            argv += ["--as-of", AS_OF.isoformat()]
        t0 = time.perf_counter()
        proc = subprocess.run(
            argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800
        )
        out[f"{command}_s"] = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(
                f"stacklstm-fin {command} exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
            )
    return out


def _toml_literal(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def growth(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage, the exponent between consecutive universes (1.0 = linear in tickers)."""
    out: dict[str, Any] = {}
    for a, b in itertools.pairwise(runs):
        label = f"{a['tickers']}->{b['tickers']}"
        scale = math.log(b["tickers"] / a["tickers"])
        per = {}
        for stage in ("total", *a["stages_s"]):
            ta = a["total_s"] if stage == "total" else a["stages_s"][stage]
            tb = b["total_s"] if stage == "total" else b["stages_s"].get(stage, math.nan)
            per[stage] = math.log(tb / ta) / scale if ta > 0 and tb > 0 else math.nan
        out[label] = per
    return out


def run(sizes: Sizes, info: dict[str, Any]) -> dict[str, Any]:
    import keras

    runs = []
    cli = None
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for n in sizes.e2e_universes:
            runs.append(run_universe(sizes, n, Path(tmp) / f"universe-{n}"))
        if sizes.e2e_cli:
            n = min(sizes.e2e_universes)
            cli = run_cli(sizes, n, Path(tmp) / f"cli-{n}")
            same = next(r for r in runs if r["tickers"] == n)
            cli["in_process_total_s"] = same["init_db_s"] + same["total_s"]
    ratios: dict[str, float] = {}
    if len(runs) > 1:
        first, last = runs[0], runs[-1]
        ratios[f"ratio_time_{last['tickers']}_vs_{first['tickers']}_tickers"] = (
            last["total_s"] / first["total_s"]
        )
    return {
        "backend": keras.backend.backend(),
        "config": {
            "universes": list(sizes.e2e_universes),
            "as_of": AS_OF,
            "history_sessions": sizes.e2e_sessions,
            "test_and_validation_sessions": sizes.e2e_split_sessions,
            "epochs": sizes.e2e_epochs,
            "candidates": "the demo's (config defaults)",
            "warehouse": "DuckDB file (the embedded default)",
        },
        "results": {"runs": runs, "growth_exponents": growth(runs), "cli": cli},
        "ratios": ratios,
    }
