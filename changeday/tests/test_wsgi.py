"""The WSGI application gunicorn loads: every view imported at start, and what was loaded kept
out of the garbage collector's full collections (bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from changeday.tests.test_settings import ROOT, production_env

PROBE = """
import gc, json, sys
import changeday.wsgi
print(json.dumps({
    "views_loaded": "pledges.views" in sys.modules and "pages.views" in sys.modules,
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
}))
"""


def test_the_application_loads_its_views_at_start_and_the_collector_skips_what_was_loaded() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["views_loaded"]
    # What a loaded process holds is frozen: a full collection now walks a few objects, not all.
    assert found["frozen"] > 50_000
    assert found["tracked"] < found["frozen"] / 10
