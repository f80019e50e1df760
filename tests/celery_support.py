"""Real Celery workers for the tests (and the bench): subprocesses on a broker, on the test database.

A worker is `celery -A backtest_site worker` in a process group of its own (its pool's children
die with it on `kill`), configured by the environment exactly as a deployed one: DATABASE_URL
pointing at the database the test uses, CELERY_BROKER_URL, and a short visibility timeout so a
task lost with a killed worker is delivered again within seconds.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database this process uses (the test database under pytest)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def client_app(broker_url: str) -> Celery:
    """A Celery app of the site's settings on another broker: what a web process submits with."""
    app = Celery("backtest-client", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker_url
    return app


class Worker:
    """One `celery -A backtest_site worker` subprocess."""

    def __init__(
        self,
        broker_url: str,
        name: str,
        *,
        concurrency: int = 1,
        log: Path,
        env: dict[str, str] | None = None,
        queue: str | None = None,
    ) -> None:
        self.queue = queue
        self.broker_url = broker_url
        self.name = f"{name}@{os.uname().nodename}"
        self.concurrency = concurrency
        self.log = log
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, app: Celery, timeout: float = 90.0) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backtest_site.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "celery-worker-of-the-tests-" + "x" * 40,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "CELERY_TASK_TIME_LIMIT": "2",
            "BACKTEST_THREAD_CONN_MAX_AGE": "0",
            "BACKTEST_HEARTBEAT_SECONDS": "0",
            "PYTHONPATH": str(ROOT),
            **self.env,
        }
        command = [sys.executable, "-m", "celery", "-A", "backtest_site", "worker", "--pool", "prefork"]
        command += ["--concurrency", str(self.concurrency), "-n", self.name, "--loglevel", "INFO"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if self.queue:
            command += ["-Q", self.queue]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log.read_text()[-3000:]}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return self
        self.kill()  # never left running behind a failed test
        raise RuntimeError(f"worker {self.name} did not answer in {timeout:.0f} s: {self.log.read_text()[-3000:]}")

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)

    def kill(self) -> None:
        """kill -9 the worker and its pool's processes."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then kill -9 if it has not exited in 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


def unacked_jobs(redis_client: Any) -> list[list[Any]]:
    """The (job, args) of the tasks a worker took from a Redis broker and has not acknowledged
    (kombu keeps them in the `unacked` hash until the ack)."""
    jobs = []
    for raw in redis_client.hgetall("unacked").values():
        message = json.loads(raw)[0]
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        jobs.append(args)
    return jobs
