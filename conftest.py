import os

# Playwright's sync API leaves an event loop running in the main thread; Django's
# async-safety check would then refuse the test database set-up and teardown.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _asgiref_thread_connection_closed():
    """After each test, close the database connection of asgiref's shared thread.

    Sync code called from async views and async tests (`sync_to_async`) runs in that one
    thread, which keeps its own connection; left open at the end of the session, it
    stops PostgreSQL from dropping the test database ("being accessed by other users").
    """
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
