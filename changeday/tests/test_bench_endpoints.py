"""The benchmark's bare reference endpoints (bench/) exist only when the
harness asks for them with CHANGEDAY_BENCH_ENDPOINTS=1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from changeday.tests.test_settings import ROOT, production_env

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.urls import Resolver404, resolve
found = {}
for path in ("/bench/json/", "/bench/insert/"):
    try:
        found[path] = resolve(path).view_name
    except Resolver404:
        found[path] = None
print(json.dumps({"installed": "bench" in settings.INSTALLED_APPS, "found": found}))
"""


@pytest.mark.django_db
def test_a_normal_site_has_no_bench_endpoints() -> None:
    assert "bench" not in settings.INSTALLED_APPS
    client = Client()
    assert client.get("/bench/json/").status_code == 404
    assert client.post("/bench/insert/", {"note": "x"}).status_code == 404


def _probe(**extra: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=production_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_settings_route_no_bench_endpoints_unless_the_harness_asks() -> None:
    assert _probe() == {"installed": False, "found": {"/bench/json/": None, "/bench/insert/": None}}
    assert _probe(CHANGEDAY_BENCH_ENDPOINTS="1") == {
        "installed": True,
        "found": {"/bench/json/": "bench:json", "/bench/insert/": "bench:insert"},
    }
