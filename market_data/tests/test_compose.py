"""docker-compose.yml and the Dockerfile, checked without a Docker engine."""

import re
from pathlib import Path

import dj_database_url
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (ROOT / "backtest_site" / "settings.py").read_text()


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set in the environment."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)


def test_three_services_postgres_15_redis_7_and_the_web_app(compose):
    services = compose["services"]
    assert set(services) == {"db", "redis", "web", "worker"}  # worker: Celery (runs/tests/test_celery.py)
    assert services["db"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["web"]["build"] == "."


def test_database_and_redis_have_health_checks_and_the_app_waits_for_them(compose):
    services = compose["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert services["web"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_web_is_configured_only_by_environment_variables_the_settings_read(compose):
    web = compose["services"]["web"]
    env = web["environment"]
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "BACKTEST_WORKERS"} <= set(env)
    for name in env:  # DATABASE_URL is read by dj_database_url.config(), which the settings call
        assert re.search(rf"\b{name}\b", SETTINGS), f"{name} is not read by settings.py"
    assert not {"env_file", "volumes", "command"} & set(web)


def test_web_points_at_the_compose_database_and_redis(compose):
    env = compose["services"]["web"]["environment"]
    database = dj_database_url.parse(interpolate(env["DATABASE_URL"]))
    assert (database["ENGINE"], database["HOST"], database["PORT"]) == ("django.db.backends.postgresql", "db", 5432)
    assert (database["USER"], database["NAME"]) == (
        interpolate(compose["services"]["db"]["environment"]["POSTGRES_USER"]),
        interpolate(compose["services"]["db"]["environment"]["POSTGRES_DB"]),
    )
    assert interpolate(env["REDIS_URL"]).startswith("redis://redis:6379/")
    assert interpolate(env["BACKTEST_WORKERS"]) == "4"
    assert interpolate(env["DEBUG"]) == "0"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, never a default


def test_web_publishes_port_8000(compose):
    assert [interpolate(p) for p in compose["services"]["web"]["ports"]] == ["8000:8000"]


def test_dockerfile_installs_the_pinned_requirements_and_serves_the_asgi_app():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile
    assert "migrate" in dockerfile and "load_demo --if-empty" in dockerfile
    assert "backtest_site.asgi:application" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git"} <= set(ignored)
