"""The static files storage: whitenoise's hashed, compressed manifest storage, whatever DEBUG is.

`collectstatic` always writes the manifest (staticfiles.json), so files collected with `DEBUG=1`
(as `make run` does) serve a server started later with `DEBUG=0`. With DEBUG on, Django links the
plain names anyway. A name the manifest lacks (collectstatic never ran, or a file added since)
is linked by its plain name, which whitenoise serves from the finders (WHITENOISE_USE_FINDERS),
with one warning naming the command, instead of a 500 on every page.
"""

from __future__ import annotations

import logging

from django.contrib.staticfiles import finders
from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger(__name__)


class StaticStorage(CompressedManifestStaticFilesStorage):
    _warned = False

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            # whitenoise also asks for names that exist nowhere (a name's hash-like part taken off,
            # to see whether it is a hashed file): those keep the error, and no false warning.
            if finders.find(name) is None:
                raise
            if not StaticStorage._warned:
                StaticStorage._warned = True
                logger.warning(
                    "Static file %r is not in the collected manifest; linking plain names "
                    "(run `manage.py collectstatic` for hashed, long-cached files)",
                    name,
                )
            return name
