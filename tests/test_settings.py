"""Settings come from the environment; a malformed value stops start-up naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY = "a-long-random-secret-key-for-the-settings-tests-0123456789abcdefghij"


def _django_setup(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    clean.update(env)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DEBUG, settings.BACKTEST_WORKERS, settings.DATABASES['default']['ENGINE'], "
        "settings.CACHES['default']['BACKEND'], ','.join(settings.ALLOWED_HOSTS))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "backtest_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_sqlite_locmem_debug_off_four_workers():
    out = _django_setup(SECRET_KEY=KEY)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "False",
        "4",
        "django.db.backends.sqlite3",
        "django.core.cache.backends.locmem.LocMemCache",
        "127.0.0.1,localhost,[::1]",
    ]


def test_environment_switches_to_postgresql_and_redis():
    out = _django_setup(
        SECRET_KEY=KEY,
        DATABASE_URL="postgres://u:p@db:5432/crypto",
        REDIS_URL="redis://cache:6379/0",
        BACKTEST_WORKERS="8",
        DEBUG="1",
        ALLOWED_HOSTS="example.com,api.example.com",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "True",
        "8",
        "django.db.backends.postgresql",
        "django_redis.cache.RedisCache",
        "example.com,api.example.com",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/crypto", "-c jit=off"),
        ("postgres://u:p@db:5432/crypto?options=-c%20statement_timeout%3D5000", "-c statement_timeout=5000"),
        ("sqlite:///tmp/x.sqlite3", None),
    ],
)
def test_postgresql_connections_compile_no_queries_unless_the_url_sets_options(url, expected):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(repr(settings.DATABASES['default'].get('OPTIONS', {}).get('options')))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "backtest_site.settings", "SECRET_KEY": KEY, "DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(expected)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("BACKTEST_WORKERS", "four"),
        ("BACKTEST_WORKERS", "0"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("REDIS_URL", "localhost:6379"),
        ("ALLOWED_HOSTS", "a,,b"),
    ],
)
def test_malformed_value_stops_start_up_naming_the_variable(name, value):
    out = _django_setup(SECRET_KEY=KEY, **{name: value})
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr
    assert name in out.stderr.strip().splitlines()[-1]


def test_secret_key_is_required_when_debug_is_off():
    out = _django_setup(DEBUG="0")
    assert out.returncode != 0
    assert "SECRET_KEY" in out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", {"host": "127.0.0.1", "port": 6379, "db": 0}),
        (
            "rediss://app:s%40cret@cache.example:6380/3",
            {"host": "cache.example", "port": 6380, "db": 3, "username": "app", "password": "s@cret", "ssl": True},
        ),
        ("redis://:pw@h/5", {"host": "h", "port": 6379, "db": 5, "password": "pw"}),
        ("unix:///run/redis.sock?db=2", {"unix_socket_path": "/run/redis.sock", "db": 2}),
    ],
)
def test_the_event_streams_redis_is_the_whole_redis_url(url, expected):
    from backtest_site.settings import redis_kwargs

    assert redis_kwargs(url) == expected


def test_event_streams_share_redis_with_its_password_and_tls():
    code = (
        "import django; django.setup(); from django.conf import settings; import json; "
        "print(json.dumps(settings.EVENTSTREAM_REDIS, sort_keys=True))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "backtest_site.settings",
        "SECRET_KEY": KEY,
        "REDIS_URL": "rediss://:pw@cache:6390/7",
        "EVENTSTREAM_USE_REDIS": "1",
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '{"db": 7, "host": "cache", "password": "pw", "port": 6390, "ssl": true}'
