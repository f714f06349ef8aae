from __future__ import annotations

from django.apps import AppConfig


class BenchToolsConfig(AppConfig):
    """The benchmark's data tools (`manage.py load_pledges`), installed everywhere: the
    command is part of the public contract. Unlike the `bench` app, no models and no
    endpoints, so a deployment gains no table and no URL from it."""

    name = "bench.tools"
    label = "bench_tools"
    verbose_name = "Benchmark tools"
