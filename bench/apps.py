from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Bare reference endpoints for the benchmark harness (bench/run.py).

    Installed and routed only when CHANGEDAY_BENCH_ENDPOINTS=1, which the
    harness sets for its own gunicorn; a normal deployment never has them.
    """

    name = "bench"
    default_auto_field = "django.db.models.BigAutoField"
