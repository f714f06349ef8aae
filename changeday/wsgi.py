from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")

application = get_wsgi_application()

# Import every view now rather than on the first request, then move everything loaded so far out of
# the garbage collector's sight: the code, settings and templates of a loaded process never become
# garbage, yet each full collection walked all of them, a measurable share of a pledge
# submission's CPU (bench/README.md). Under gunicorn --preload the workers also share
# these pages with the master instead of copying them when the collector touches them.
get_resolver().url_patterns  # noqa: B018 - the import is the point
gc.collect()
gc.freeze()
