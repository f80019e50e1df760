"""ASGI entry point: `uvicorn backtest_site.asgi:application` (or daphne).

django-eventstream and the original streaming endpoint need ASGI; under WSGI the
streams would be buffered whole.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backtest_site.settings")

application = get_asgi_application()
