import os

# Playwright's sync API leaves an event loop running in the main thread; Django's
# async-safety check would then refuse the test database set-up and teardown.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
