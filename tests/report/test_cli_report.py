"""``stacklstm-fin report`` on a backfilled warehouse (once the command is wired in cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacklstm_fin import cli
from tests.report.conftest import LAST


def _wired() -> bool:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return "report" in sub.choices  # type: ignore[operator]


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _wired(), reason="`report` is not yet a stacklstm-fin command"),
]


def test_report_command_line(
    analyst_duckdb: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STACKLSTM_WAREHOUSE__URL", analyst_duckdb)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "--as-of", str(LAST), "--out", "reports"]) == 0
    path = tmp_path / "reports" / f"stacklstm-report-{LAST}.html"
    out = capsys.readouterr().out.splitlines()
    assert out == [f"report  {path}", f"bytes   {path.stat().st_size}"]

    assert cli.main(["report", "--as-of", "2015-01-02", "--out", "reports"]) == 2
    assert capsys.readouterr().err == (
        "stacklstm-fin: error: as-of 2015-01-02: the warehouse has no published forecasts on "
        "or before 2015-01-02; run `stacklstm-fin run` or `stacklstm-fin backfill` first\n"
    )
