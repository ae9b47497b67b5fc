from __future__ import annotations

from pathlib import Path

import pytest

from stacklstm_fin.config import SOURCES, Config, FilesConfig, SourceConfig, YFinanceConfig
from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.sources import (
    REGISTRY,
    FilesSource,
    SampleSource,
    SyntheticSource,
    YFinanceSource,
    get_source,
)

# exchange_calendars 4.13 calls Series.values on tz-aware data, which pandas 3.1
# deprecates (Pandas4Warning, from pandas' own frame) when a calendar is built.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:DeprecationWarning"
)


def test_the_registry_has_exactly_the_configurable_sources() -> None:
    assert tuple(REGISTRY) == SOURCES


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("yfinance", YFinanceSource),
        ("files", FilesSource),
        ("sample", SampleSource),
        ("synthetic", SyntheticSource),
    ],
)
def test_get_source_builds_the_named_source(name: str, kind: type) -> None:
    made = get_source(Config(source=SourceConfig(name=name)))

    assert type(made) is kind
    assert made.name == name


def test_sources_are_configured_from_their_section() -> None:
    cfg = Config(
        source=SourceConfig(
            name="files",
            files=FilesConfig(path="prices.parquet"),
            yfinance=YFinanceConfig(retries=5),
        )
    )
    files = get_source(cfg)
    yahoo = get_source(
        cfg.replace(source=SourceConfig(name="yfinance", yfinance=cfg.source.yfinance))
    )

    assert isinstance(files, FilesSource) and Path(files.path) == Path("prices.parquet")
    assert isinstance(yahoo, YFinanceSource) and yahoo.config.retries == 5


def test_an_unknown_name_names_the_key_and_the_choices() -> None:
    section = SourceConfig()
    object.__setattr__(section, "name", "bloomberg")  # bypasses the config's own check

    with pytest.raises(ConfigError) as err:
        get_source(Config(source=section))

    assert str(err.value) == (
        "source.name: expected one of yfinance, files, sample, synthetic; got 'bloomberg'"
    )
