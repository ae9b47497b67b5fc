"""No secret of the warehouse URL in any output: redact_url, the CLI, logs, the report."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stacklstm_fin.redact import ambiguity, redact_url, scrub
from tests.cli_run import run_cli

SECRET = "S3cret"
AMBIGUOUS = (
    "warehouse.url: postgresql://<ambiguous; not shown>: ambiguous: an '@' appears outside "
    "the user part; percent-encode reserved characters in the user and password "
    "('@' as %40, '/' as %2F, '?' as %3F, '#' as %23, ':' as %3A); the URL is not shown, "
    "it may hold a password"
)
REFUSED = (
    'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@host:1/db?password=S3cret", "postgresql://u@host:1/db?password=***"),
        ("postgresql://:S3cret@host/db", "postgresql://:***@host/db"),
        ("postgresql://u:p%40S3cret%2Fx@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:S3cret@h/db?sslmode=require&sslpassword=S3cret", None),
        ("postgresql://u:p@S3cret@host/db", "postgresql://<ambiguous; not shown>"),
        ("postgresql://u:p/S3cret@host/db", "postgresql://<ambiguous; not shown>"),
        ("postgresql://u@host/db?password=p@S3cret", "postgresql://<ambiguous; not shown>"),
        ("postgresql://u:S3cret@[::1/db", "postgresql://<unparseable; not shown>"),
        ("S3cret", "<not a URL; not shown>"),
        ("postgresql://u:S3cret@h/db#S3cret", "postgresql://u:***@h/db#***"),
        ("duckdb:////data/a@b/warehouse.duckdb", "duckdb:////data/a@b/warehouse.duckdb"),
    ],
)
def test_redact_url_hides_every_secret(url: str, shown: str | None) -> None:
    got = redact_url(url)
    assert SECRET not in got
    expected = shown or "postgresql://u:***@h/db?sslmode=require&sslpassword=***"
    assert got == expected


def test_ambiguity_names_the_fix_and_duckdb_is_never_ambiguous() -> None:
    assert ambiguity("postgresql://u:p%2Fw@h/db") is None
    assert ambiguity("postgresql://u:p/w@h/db") is not None
    assert ambiguity("duckdb:///a@b.duckdb") is None


def test_scrub_removes_raw_and_decoded_secrets_from_text() -> None:
    url = "postgresql://u:p%40S3cret@h/db?password=Tok%2Fen"
    text = "bad p%40S3cret p@S3cret Tok/en Tok%2Fen"
    assert scrub(text, url, None) == "bad *** *** *** ***"


def _init_db(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["init-db", "-v"], cwd, {"STACKLSTM_WAREHOUSE__URL": url}, timeout=60)


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "postgresql://u@127.0.0.1:1/db?password=S3cret",
            "warehouse postgresql://u@127.0.0.1:1/db?password=***: cannot connect to "
            f"PostgreSQL at 127.0.0.1:1: {REFUSED}",
        ),
        (
            "postgresql://:S3cret@127.0.0.1:1/db",
            f"warehouse postgresql://:***@127.0.0.1:1/db: cannot connect to PostgreSQL at "
            f"127.0.0.1:1: {REFUSED}",
        ),
        (
            "postgresql://u:p%40S3cret%2Fx@127.0.0.1:1/db",
            f"warehouse postgresql://u:***@127.0.0.1:1/db: cannot connect to PostgreSQL at "
            f"127.0.0.1:1: {REFUSED}",
        ),
        ("postgresql://u:p@S3cret@127.0.0.1:1/db", AMBIGUOUS),
        ("postgresql://u:p/S3cret@127.0.0.1:1/db", AMBIGUOUS),
        (
            "postgresql://u:S3cret@[::1/db",
            "warehouse.url: postgresql://<unparseable; not shown>: not a valid URL "
            "(an unclosed '[' or a bad IPv6 host); the URL is not shown, it may hold a password",
        ),
    ],
)
def test_cli_error_is_one_line_exit_2_without_the_secret(
    url: str, line: str, tmp_path: Path
) -> None:
    done = _init_db(url, tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert SECRET not in done.stderr
    assert done.stderr == f"stacklstm-fin: error: {line}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_rejected_login_against_local_postgres_hides_the_password(
    pg_database: str, tmp_path: Path
) -> None:
    # The local server trusts every login, so a wrong password is only refused
    # for a role that does not exist: the same path through the driver's error.
    host_db = pg_database.split("@", 1)[1]
    done = _init_db(f"postgresql://no_such_role_15:{SECRET}@{host_db}", tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert SECRET not in done.stderr
    assert done.stderr == (
        f"stacklstm-fin: error: warehouse postgresql://no_such_role_15:***@{host_db}: "
        f"cannot connect to PostgreSQL at 127.0.0.1:5432: connection failed: connection to "
        f'server at "127.0.0.1", port 5432 failed: FATAL: role "no_such_role_15" does not exist\n'
    )


@pytest.mark.postgres
def test_init_db_prints_and_logs_the_url_without_the_password(pg_url: str, tmp_path: Path) -> None:
    user, host_db = pg_url.split("://", 1)[1].split("@", 1)
    done = _init_db(f"postgresql://{user}@{host_db}?password={SECRET}", tmp_path)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert f"warehouse  postgresql://{user}@{host_db}?password=***\n" in done.stdout


def test_report_shows_the_redacted_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from stacklstm_fin.report import html

    class Data:
        forecast_as_of = "2020-01-02"

    class Wh:
        url = "postgresql://u@h/db?password=S3cret"

    monkeypatch.setattr(html, "collect", lambda *a, **k: Data())
    monkeypatch.setattr(html, "report_html", lambda data, warehouse, generated_at: warehouse)
    path = html.render_report(Wh(), None, tmp_path)  # type: ignore[arg-type]
    assert path.read_text() == "postgresql://u@h/db?password=***"


def test_a_log_line_or_error_holding_the_secret_is_scrubbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from stacklstm_fin import cli
    from stacklstm_fin.exceptions import WarehouseError

    url = "postgresql://u:S3cret@h/db?password=T0ken%21"

    def leaky(args: object, cfg: object) -> None:
        logging.getLogger("some.driver").warning("connecting with %s", url)
        raise WarehouseError(f"driver said: password 'S3cret' and 'T0ken!' rejected for {url}")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STACKLSTM_WAREHOUSE__URL", url)
    monkeypatch.setattr(cli, "_cmd_init_db", leaky)
    root = logging.getLogger()
    handlers = root.handlers[:]
    try:
        root.handlers.clear()  # main() configures logging as the command line does
        assert cli.main(["init-db", "-v"]) == 2
    finally:
        root.handlers[:] = handlers
    out, err = capsys.readouterr()
    assert "S3cret" not in out + err and "T0ken" not in out + err
    assert err.endswith(
        "stacklstm-fin: error: driver said: password '***' and '***' rejected for "
        "postgresql://u:***@h/db?password=***\n"
    )
    assert "WARNING some.driver: connecting with postgresql://u:***@h/db?password=***\n" in err
