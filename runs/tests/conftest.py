"""The runs tests all run with runs_settings (root conftest.py); helpers are in tests/support.py."""

import pytest


@pytest.fixture(autouse=True)
def _runs_settings(runs_settings):
    yield
