"""Settings entry point for pytest (pytest.ini names it).

It only fills in environment defaults a test client needs, then loads the one
real settings module: tests run the production settings (DJANGO_DEBUG off)
with a throwaway secret key, plain HTTP (an http SITE_URL allowed) and
unhashed static names.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SITE_URL", "http://testserver")
# Production settings refuse an http SITE_URL; the test client and live servers speak plain http.
os.environ.setdefault("CHANGEDAY_ALLOW_HTTP_SITE_URL", "1")

from changeday.settings import *  # noqa: E402, F403
