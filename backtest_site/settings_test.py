"""Settings of the test suite: the site's settings, plus what only tests want.

pytest-django loads this module (pyproject.toml). Nothing in the site's own settings asks
whether it runs under a test runner.
"""

import os

# The site refuses to start without a SECRET_KEY when DEBUG is off; tests run with DEBUG off.
# Set for the import only, so that servers the tests start in subprocesses see the real rule.
_had_key = "SECRET_KEY" in os.environ
os.environ.setdefault("SECRET_KEY", "django-insecure-test-only-key-0123456789abcdefghijklmnopqrstuvwxyz")
try:
    from .settings import *  # noqa: F403
    from .settings import STORAGES, env_bool
finally:
    if not _had_key:
        del os.environ["SECRET_KEY"]

# Plain static files: the pages are served from the finders, before any collectstatic.
if not env_bool("STATIC_MANIFEST", False):
    STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

# A connection kept by a pool thread would stop the test database from being dropped.
BACKTEST_THREAD_CONN_MAX_AGE = 0
# No heartbeat thread: the tests call runs.lifecycle.leases_tick themselves.
BACKTEST_HEARTBEAT_SECONDS = 0
# Reads are throttled per address, and every test client has the same one: the test of the read
# throttle lowers this (tests/test_production.py).
READS_THROTTLE_RATE = "100000/min"
