"""Where one page spends its time: `bench/profile_request.py PATH [REPEATS]`.

Runs the request through Django's whole stack in-process, with the benchmark
database and production settings (the environment of bench/README.md), under
pyinstrument (requirements-dev.txt), after one warm-up, and prints the call tree
plus the SQL each request sends.
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402


def main(path: str, repeats: int) -> None:
    client = Client()
    assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    for query in captured.captured_queries:
        print(f"{query['time']:>6} s  {query['sql'][:200]}")
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for _ in range(repeats):
            client.get(path)
    print(f"{(time.perf_counter() - started) / repeats * 1000:.1f} ms per request over {repeats}")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50)
