"""Where one page spends its time: `bench/profile_request.py PATH [REPEATS]`.

Runs the request through Django's whole stack in-process, with the benchmark
database and production settings (the environment of bench/README.md), under
pyinstrument (requirements-dev.txt), after one warm-up, and prints the call tree
plus the SQL each request sends.

`bench/profile_request.py --pledge SLUG [REPEATS]` does the same for pledges
posted through the real form of that campaign (CSRF enforced, a new address and
submission token each), as bench/wrk/pledge.lua posts them. Each lands in the
database as an unconfirmed pledge of `profile-...@example.invalid`.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
# In-process requests only: links point nowhere real, so production settings may take http.
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("CHANGEDAY_ALLOW_HTTP_SITE_URL", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402


def _get(client: Client, path: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return response

    return call


def _pledge(client: Client, slug: str) -> Callable[[], object]:
    form = client.get(f"/campaigns/{slug}/pledge/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)

    def call() -> object:
        tag = uuid.uuid4().hex
        fields = {
            "csrfmiddlewaretoken": csrf,
            "submission_token": str(uuid.uuid4()),
            "text": f"learn the name of every patient on my ward, {tag[:8]}",
            "sectors": ["nhs", "housing"] if tag[0] < "5" else ["nhs"],
            "kind": "personal",
            "display_name": "Profile",
            "role": "Staff nurse",
            "organisation": "Northfield General Hospital",
            "region": "wales",
            "email": f"profile-{tag}@example.invalid",
            "consent_to_publish": "on",
        }
        # Encoded as the browser and wrk send the form, not as the test client's default multipart.
        response = client.post(
            f"/campaigns/{slug}/pledge/",
            urlencode(fields, doseq=True),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 302, response.status_code
        return response

    return call


def main(request: Callable[[], object], repeats: int) -> None:
    request()
    with CaptureQueriesContext(connection) as captured:
        request()
    for query in captured.captured_queries:
        print(f"{query['time']:>6} s  {query['sql'][:200]}")
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for _ in range(repeats):
            request()
    print(f"{(time.perf_counter() - started) / repeats * 1000:.1f} ms per request over {repeats}")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--pledge":
        call, rest = _pledge(Client(enforce_csrf_checks=True), args[1]), args[2:]
    else:
        call, rest = _get(Client(), args[0]), args[1:]
    main(call, int(rest[0]) if rest else 50)
