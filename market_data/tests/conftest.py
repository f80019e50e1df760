import datetime as dt
from pathlib import Path

import pytest

from market_data.models import Cryptocurrency

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def csv_rows(n: int, *, start: dt.datetime = T0, close: float = 100.0, step: float = 1.0, hours: int = 1) -> list[str]:
    """n good rows `hours` apart as 'iso,open,high,low,close,volume' lines, closes rising by `step`."""
    lines = []
    for i in range(n):
        c = close + i * step
        o = c - step / 2
        lines.append(f"{(start + dt.timedelta(hours=i * hours)).isoformat()},{o},{c + 1},{o - 1},{c},{10 + i}")
    return lines


@pytest.fixture
def write_csv(tmp_path):
    """write_csv(lines, header=..., name=...) -> Path of a CSV file with that header and those lines."""

    def write(
        lines: list[str], *, header: str = "datetime,open,high,low,close,volume", name: str = "prices.csv"
    ) -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *lines]) + "\n")
        return path

    return write


@pytest.fixture
def coin(db):
    return Cryptocurrency.objects.create(symbol="BTC", name="Bitcoin")


@pytest.fixture
def plain_static(settings):
    """Static files served by name: with DEBUG off the settings pick the manifest storage, which needs collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
