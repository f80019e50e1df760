"""ASGI entry point: `uvicorn backtest_site.asgi:application` (or daphne; `runserver` with
daphne in INSTALLED_APPS serves it too).

django-eventstream and the original streaming endpoint need ASGI; under WSGI the
streams would be buffered whole.

Around Django's handler this adds the server's start-up and shutdown work for runs:
- start-up: runs a previous server process left pending or running become `interrupted`
  (their stored results stay), and the backtest engine is loaded once so the first run
  does not pay for it; then what start-up made is frozen out of the garbage collector's
  generations (`gc.freeze`), so the first request does not pay a full collection over it.
  Done on the ASGI lifespan start-up (uvicorn) or, for servers
  that send no lifespan events (daphne, runserver), before the first request. Nothing
  touches the database at import time, so migrate and the tests never trigger it.
- shutdown (lifespan): queued jobs are dropped and this process's runs marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backtest_site.settings")

django_application = get_asgi_application()

logger = logging.getLogger("backtest_site.asgi")

_startup_done = False
_startup_lock: asyncio.Lock | None = None


async def _startup() -> None:
    """Run the start-up work once per process (whichever comes first: lifespan or a request)."""
    global _startup_done, _startup_lock
    if _startup_done:
        return
    if _startup_lock is None:
        _startup_lock = asyncio.Lock()
    async with _startup_lock:
        if _startup_done:
            return
        from asgiref.sync import sync_to_async

        from runs.lifecycle import server_started

        try:
            await sync_to_async(server_started, thread_sensitive=False)()
        except Exception:  # a start-up problem must not keep the site down
            logger.exception("Start-up work for runs failed")
        # What start-up made (modules, the engine's compiled code, the warm-up's objects) lives as
        # long as the process: out of the collector's reach, the first request's allocations do not
        # set off a full collection over them (a third of a second of the first sweep's POST).
        gc.freeze()
        _startup_done = True


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            from runs.streams import drain_on_signals

            drain_on_signals()  # SIGTERM ends the run streams, so uvicorn's graceful shutdown never waits on them
            await _startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from asgiref.sync import sync_to_async

            from runs.lifecycle import server_stopping

            try:
                await sync_to_async(server_stopping, thread_sensitive=False)()
            except Exception:
                logger.exception("Shutdown work for runs failed")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await _startup()
    await django_application(scope, receive, send)
