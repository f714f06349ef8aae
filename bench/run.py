"""Issue 7's benchmark harness: `make bench` (see bench/README.md).

Makes sure the benchmark database holds a million published pledges, starts
gunicorn (production settings, 2 workers) and two Celery worker processes on
127.0.0.1, drives each scenario with wrk for a fixed time, and prints
throughput, median and 99th-percentile latency, the ratio to a bare reference
measured in the same run, and the peak memory of a web and a Celery worker.
Scenarios that are not HTTP (bulk publish, recount, reminders, follow-through) are timed here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
SLUG = "bench"
PLEDGES = 1_000_000
# The pledges that name an organisation are spread over this many (load_pledges --organisations).
ORGANISATIONS = 5_000
SIGNUPS = 100_000
FOLLOWERS = 100_000
FOLLOW_THROUGH_SLUG = "bench-follow-through"
PENDING = 10_000
MODERATION_BATCH = 200  # the most the moderation page decides at once (MAX_SELECTION)
MODERATION_EMAIL = "bench-moderation-"
PLEDGE_RUN_EMAIL = "wrk-"  # bench/wrk/pledge.lua: wrk-<run id>-<thread>-<n>@example.invalid
REFERENCES = {"bare JSON": ("/bench/json/", "get.lua"), "bare insert": ("/bench/insert/", "insert.lua")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- Settings for every process of the run -----------------------------------------------


def bench_environment(*, database_url: str, redis_url: str, http_port: int, smtp_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_DEBUG", None)  # production settings
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "changeday.settings",
            "DJANGO_SECRET_KEY": "bench-only-not-secret-0123456789012345678901234567890123456789",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": f"http://127.0.0.1:{http_port}",
            # Production settings refuse an http SITE_URL; this run is on the loopback.
            "CHANGEDAY_ALLOW_HTTP_SITE_URL": "1",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            # Plain HTTP on the loopback: there is no TLS to redirect to.
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_STATIC_ROOT": str(VAR / "static"),
            "CHANGEDAY_VAR_DIR": str(VAR),
            "CHANGEDAY_BENCH_ENDPOINTS": "1",
        }
    )
    # Pledging is rate-limited per address (RATE_LIMIT_PLEDGE=COUNT/PERIOD) and per
    # (address, email) (RATE_LIMIT_PLEDGE_PER_EMAIL), which would refuse a load
    # generator on one address; both are still counted. Set your own values to override.
    env.setdefault("RATE_LIMIT_PLEDGE", "1000000000/1h")
    env.setdefault("RATE_LIMIT_PLEDGE_PER_EMAIL", "1000000000/1h")
    return env


# --- Processes ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pids: list[int]) -> dict[int, int]:
    """User and system CPU ticks of each of these processes so far."""
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _deprioritise_session(pid: int, nice: int) -> None:
    """Give the session `pid` leads, which the worker's pool processes join, the CPU weight of
    `nice`. Each process here starts its own session, and with autogroup scheduling (Linux's
    default on a desktop or a VM) the kernel shares the CPU between sessions first, so a
    process's own nice value only ranks it within its session. systemd's CPUWeight= does the
    same for a service on a production machine (docs/scaling.md)."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError as exc:
        print(f"could not set the CPU weight of the worker session {pid}: {exc}", file=sys.stderr)


class Services:
    """gunicorn and two Celery worker processes, each in its own process group."""

    def __init__(self, env: dict[str, str], port: int, *, worker_nice: int = 0) -> None:
        self.env, self.port, self.worker_nice = env, port, worker_nice
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.celery: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = (VAR / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self.gunicorn = self._start(
            "gunicorn",
            [str(bin_dir / "gunicorn"), "--config", "changeday/gunicorn_conf.py", "changeday.wsgi"]
            + ["--workers", "2"]
            + ["--bind", f"127.0.0.1:{self.port}"],
        )
        for n in (1, 2):
            self.celery.append(
                worker := self._start(
                    f"celery{n}",
                    ["nice", "-n", str(self.worker_nice)]
                    + [
                        str(bin_dir / "celery"),
                        "-A",
                        "changeday",
                        "worker",
                        "--concurrency",
                        "1",
                        "--hostname",
                        f"bench{n}@%h",
                        "--loglevel",
                        "WARNING",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                )
            )
            if self.worker_nice:
                _deprioritise_session(worker.pid, self.worker_nice)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/bench/json/", timeout=2) as r:
                    if r.status == 200 and len(self.web_workers()) == 2 and len(self.celery_workers()) == 2:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"gunicorn or Celery did not start: see {VAR}/gunicorn.log and celery*.log")

    def web_workers(self) -> list[int]:
        return _children(self.gunicorn.pid) if self.gunicorn else []

    def celery_workers(self) -> list[int]:
        # The pool processes run the tasks; the parent only talks to the broker.
        return [child for proc in self.celery for child in _children(proc.pid)]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


class CpuWatch:
    """Where the machine's CPU went during one scenario: each part's CPU time from /proc, and
    wrk's from the harness's reaped children. On a quiet machine the parts add up to the load;
    PostgreSQL and Redis count every process of their servers."""

    def __init__(self, services: Services, sink: SinkProcess) -> None:
        self.services, self.sink = services, sink

    def _snapshot(self) -> dict[str, dict[int, int]]:
        web = [self.services.gunicorn.pid] if self.services.gunicorn else []
        celery = [proc.pid for proc in self.services.celery]
        return {
            "web": _cpu_ticks(web + self.services.web_workers()),
            "PostgreSQL": _cpu_ticks(_pids_named("postgres")),
            "Redis": _cpu_ticks(_pids_named("redis-server")),
            "Celery": _cpu_ticks(celery + self.services.celery_workers()),
            "SMTP sink": _cpu_ticks([self.sink.proc.pid]),
        }

    @staticmethod
    def _wrk_seconds() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return children.ru_utime + children.ru_stime

    @contextmanager
    def during(self) -> Iterator[dict[str, float]]:
        """Yields a dict that holds, once the block ends, each part's CPU seconds in it. A process
        that started meanwhile counts whole; one that ended meanwhile (a database connection
        closed) is left out, so a part can only be undercounted."""
        spent: dict[str, float] = {}
        before, wrk_before = self._snapshot(), self._wrk_seconds()
        try:
            yield spent
        finally:
            after, tick = self._snapshot(), os.sysconf("SC_CLK_TCK")
            for part, ticks in after.items():
                spent[part] = sum(now - before[part].get(pid, 0) for pid, now in ticks.items()) / tick
            spent["wrk"] = self._wrk_seconds() - wrk_before


def cpu_note(spent: dict[str, float], *, per: int, what: str, seconds: float) -> str:
    parts = ", ".join(f"{part} {cpu / per * 1000:.2f}" for part, cpu in spent.items())
    total = sum(spent.values())
    return (
        f"CPU per {what}, ms: {parts}; in all {total / per * 1000:.2f} ms, "
        f"{total / seconds:.2f} of the {os.cpu_count()} cores"
    )


class MemoryWatch:
    """Peak resident memory of the web and Celery workers during one scenario.

    Writing 5 to /proc/PID/clear_refs resets the kernel's high-water mark
    (VmHWM), so the peak read after is this scenario's; RSS is also sampled
    every 100 ms in case the reset is not allowed."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self.sampled: dict[str, int] = {}
        self.timeline: list[tuple[float, int]] = []

    def _pids(self) -> dict[str, list[int]]:
        return {"web": self.services.web_workers(), "celery": self.services.celery_workers()}

    def _sample(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.1):
            for group, pids in self._pids().items():
                rss = max((_status_kib(pid, "VmRSS") for pid in pids), default=0)
                self.sampled[group] = max(self.sampled.get(group, 0), rss)
                if group == "celery":
                    self.timeline.append((time.monotonic() - started, rss))

    @contextmanager
    def during(self) -> Iterator[dict[str, float]]:
        for pids in self._pids().values():
            for pid in pids:
                try:
                    Path(f"/proc/{pid}/clear_refs").write_text("5")
                except OSError:
                    pass
        self.sampled, self.timeline = {}, []
        self._stop.clear()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        peaks: dict[str, float] = {}
        try:
            yield peaks
        finally:
            self._stop.set()
            sampler.join()
            for group, pids in self._pids().items():
                hwm = max((_status_kib(pid, "VmHWM") for pid in pids), default=0)
                peaks[f"{group}_mb"] = round(max(hwm, self.sampled.get(group, 0)) / 1024, 1)


# --- The SMTP sink --------------------------------------------------------------------------


class SinkProcess:
    """bench/sink.py in a session of its own, and the harness's questions to it."""

    def __init__(self, port: int) -> None:
        log = (VAR / "sink.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "sink.py"), str(port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        if not self._read().get("ready"):
            raise RuntimeError(f"the SMTP sink did not start: see {VAR}/sink.log")
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the SMTP sink stopped: see {VAR}/sink.log")
        return json.loads(line)

    def _ask(self, command: str) -> dict[str, int]:
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            return self._read()

    def reset(self) -> None:
        self._ask("reset")

    @property
    def messages(self) -> int:
        return self._ask("count")["messages"]

    def report(self) -> dict[str, int]:
        """messages, recipients (distinct), recipients_twice, message_ids_twice."""
        return self._ask("report")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)


# --- Results --------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    load_average: str
    throughput: float  # per second
    unit: str
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    reference: str = ""
    web_mb: float | None = None
    celery_mb: float | None = None
    target: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)


def wrk(url: str, script: str, *args: str, duration: int, connections: int) -> dict[str, Any]:
    cmd = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s"]
    cmd += ["-s", f"bench/wrk/{script}", url]
    if args:
        cmd += ["--", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON "))
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


class Bench:
    def __init__(
        self, args: argparse.Namespace, env: dict[str, str], services: Services, sink: SinkProcess
    ) -> None:
        self.args, self.env, self.services, self.sink = args, env, services, sink
        self.base = f"http://127.0.0.1:{services.port}"
        self.memory = MemoryWatch(services)
        self.cpu = CpuWatch(services, sink)
        self.results: list[Result] = []
        self.references: dict[str, float] = {}
        self.reference_rates: dict[str, list[float]] = {}
        self.reference_runs: list[tuple[str, float]] = []

    def report(self, result: Result) -> None:
        self.results.append(result)
        ratio = f"{result.ratio:.2f}" if result.ratio is not None else "-"
        p50 = f"{result.p50_ms:.1f}" if result.p50_ms is not None else "-"
        p99 = f"{result.p99_ms:.1f}" if result.p99_ms is not None else "-"
        met = {True: "met", False: "MISSED", None: ""}[result.met]
        print(
            f"{result.scenario:<44} {result.throughput:>9.1f} {result.unit:<10} p50 {p50:>7} ms  "
            f"p99 {p99:>7} ms  ratio {ratio:>5}  web {result.web_mb} MB  celery {result.celery_mb} MB  "
            f"[load {result.load_average}] {result.target} {met}",
            flush=True,
        )
        for note in result.notes:
            print(f"    {note}", flush=True)

    def http(
        self,
        name: str,
        path: str,
        *,
        reference: str,
        min_ratio: float | None = None,
        max_p99_ms: float | None = None,
        script: str = "get.lua",
        script_args: tuple[str, ...] = (),
        reference_after: bool = True,
    ) -> dict[str, Any]:
        if script == "get.lua":
            with urllib.request.urlopen(self.base + path, timeout=10) as response:
                assert response.status == 200, (path, response.status)
        if reference != "-":
            self.reference(reference)
        load = _loadavg()
        with self.memory.during() as peaks, self.cpu.during() as spent:
            figures = wrk(
                self.base + path,
                script,
                *script_args,
                duration=self.args.duration,
                connections=self.args.connections,
            )
        figures["cpu_s"] = spent
        if reference != "-" and reference_after:
            self.reference_after(reference)
        p50, p99 = figures["p50_us"] / 1000, figures["p99_us"] / 1000
        rps = figures["rps"]
        # A scenario that measures its reference after itself (pledges) sets its own ratio.
        compared = reference in self.references and reference_after
        ratio = rps / self.references[reference] if compared else None
        reference_note = [self.reference_note(reference)] if compared else []
        targets, met = [], True
        if min_ratio is not None:
            targets.append(f">= {min_ratio:.0%} of {reference}")
            met = met and ratio is not None and ratio >= min_ratio
        if max_p99_ms is not None:
            targets.append(f"p99 < {max_p99_ms:g} ms")
            met = met and p99 < max_p99_ms
        errors = sum(figures[key] for key in figures if key.startswith("errors_"))
        notes = [f"{figures['requests']} requests, {errors} errors or non-2xx/3xx"] if errors else []
        notes += reference_note
        if script != "pledge.lua":
            # The pledge scenario counts per pledge instead.
            notes.append(
                cpu_note(spent, per=figures["requests"], what="request", seconds=figures["duration_us"] / 1e6)
            )
        self.report(
            Result(
                scenario=name,
                load_average=load,
                throughput=round(rps, 1),
                unit="req/s",
                p50_ms=round(p50, 1),
                p99_ms=round(p99, 1),
                ratio=round(ratio, 2) if ratio is not None else None,
                reference=reference,
                web_mb=peaks["web_mb"],
                celery_mb=peaks["celery_mb"],
                target=", ".join(targets),
                met=met if targets else None,
                notes=notes,
            )
        )
        return figures

    # --- Scenarios ---------------------------------------------------------------------

    def reference(self, name: str, *, when: str = "before") -> float:
        """Measure a bare reference again: the machine's own speed moves from minute to minute
        (the bare insert can move by half in runs minutes apart), so every
        scenario is compared with the mean of one taken just before it and one just after."""
        path, script = REFERENCES[name]
        rps = self.http(f"reference: {name} ({when})", path, reference="-", script=script)["rps"]
        self.results[-1].ratio = 1.0
        self.reference_runs.append((f"{name} ({when})", round(rps, 1)))
        if when == "before":
            self.references[name] = rps
            self.reference_rates[name] = [rps]
        return rps

    def reference_after(self, name: str) -> None:
        """The reference again after the scenario; its ratio is then to the mean of both."""
        self.reference_rates[name].append(self.reference(name, when="after"))
        self.references[name] = statistics.mean(self.reference_rates[name])

    def reference_note(self, name: str) -> str:
        rates = " and ".join(f"{rate:.1f}/s" for rate in self.reference_rates[name])
        return (
            f"ratio to {name} at {self.references[name]:.1f}/s, the mean of {rates} measured before and after"
        )

    def reads(self) -> None:
        from pledges.models import Pledge, Status

        published = Pledge.objects.filter(campaign__slug=SLUG, status=Status.PUBLISHED)
        when, public_id = published.order_by("published_at", "public_id").values_list(
            "published_at", "public_id"
        )[1000]
        from base64 import urlsafe_b64encode

        cursor = urlsafe_b64encode(f"{int(when.timestamp() * 1_000_000)}:{public_id}".encode()).decode()
        cursor = cursor.rstrip("=")
        wall = f"/campaigns/{SLUG}/wall/"
        pages = [
            ("wall, first page", ""),
            ("wall, 1,000 pledges from the oldest (cursor)", f"?cursor={cursor}"),
            ("wall, sector=nhs", "?sector=nhs"),
            ("wall, sector=housing", "?sector=housing"),
            ("wall, integration=1", "?integration=1"),
            ("wall, region=wales", "?region=wales"),
            ("wall, kind=organisational", "?kind=organisational"),
            ("wall, organisation=Riverside Homes", "?organisation=Riverside+Homes"),
            ("wall, q=carers (word search)", "?q=carers"),
            ("wall, region=wales, deep cursor", f"?region=wales&cursor={cursor}"),
        ]
        for name, query in pages:
            self.http(name, wall + query, reference="bare JSON", min_ratio=0.35, max_p99_ms=50)

    def organisations(self) -> None:
        """An organisation's page and the league tables, at the wall's targets: the biggest
        organisation (tens of thousands of pledges) and a middling one, first and deep pages,
        a filter and a word search; the index; the league by pledges, per 100 staff and
        filtered; the API's league and organisation."""
        from django.db.models import Sum

        from organisations.models import OrganisationTotal
        from pledges.models import Pledge, Status

        ranked = list(
            OrganisationTotal.objects.filter(campaign__slug=SLUG)
            .values("organisation_id", "organisation__slug")
            .annotate(n=Sum("pledges"))
            .order_by("-n", "organisation_id")
            .values_list("organisation_id", "organisation__slug", "n")
        )
        biggest_id, biggest, biggest_n = ranked[0]
        _, middling, middling_n = ranked[len(ranked) // 2]
        published = Pledge.objects.filter(campaign__slug=SLUG, status=Status.PUBLISHED, org_id=biggest_id)
        when, public_id = published.order_by("published_at", "public_id").values_list(
            "published_at", "public_id"
        )[1000]
        from base64 import urlsafe_b64encode

        cursor = urlsafe_b64encode(f"{int(when.timestamp() * 1_000_000)}:{public_id}".encode()).decode()
        cursor = cursor.rstrip("=")
        print(
            f"{len(ranked):,} organisations taking part; the biggest has {biggest_n:,} pledges, "
            f"the middling one {middling_n:,}",
            flush=True,
        )
        base = f"/campaigns/{SLUG}/organisations/"
        pages = [
            (f"organisation page, biggest ({biggest_n:,} pledges)", f"{base}{biggest}/"),
            (
                "organisation page, biggest, 1,000 from the oldest (cursor)",
                f"{base}{biggest}/?cursor={cursor}",
            ),
            ("organisation page, biggest, sector=housing", f"{base}{biggest}/?sector=housing"),
            ("organisation page, biggest, q=carers", f"{base}{biggest}/?q=carers"),
            (f"organisation page, middling ({middling_n:,} pledges)", f"{base}{middling}/"),
            ("organisations taking part, first page", base),
            ("organisations taking part, kind and region", f"{base}?kind=care-provider&region=london"),
            ("league table", f"{base}league/"),
            ("league table, per 100 staff", f"{base}league/?per=staff"),
            (
                "league table, kind and region, page 2",
                f"{base}league/?kind=gp-practice&region=midlands&page=2",
            ),
            ("league API, per 100 staff", f"/api/v1/campaigns/{SLUG}/league?per=staff"),
            ("organisation API, biggest", f"/api/v1/campaigns/{SLUG}/organisations/{biggest}"),
        ]
        for name, path in pages:
            self.http(name, path, reference="bare JSON", min_ratio=0.35, max_p99_ms=50)

    def campaign(self) -> None:
        self.http(
            "campaign page", f"/campaigns/{SLUG}/", reference="bare JSON", min_ratio=0.50, max_p99_ms=None
        )
        self.http(
            "counters API",
            f"/api/v1/campaigns/{SLUG}/counters",
            reference="bare JSON",
            min_ratio=0.70,
            max_p99_ms=15,
        )
        self.http("embeddable widget", f"/campaigns/{SLUG}/widget/", reference="bare JSON")

    def pledges(self) -> None:
        from outbox.models import OutboxEmail
        from pledges.models import Pledge

        _pledge_runs_cleanup()  # left by an interrupted run
        for mode, name in (
            ("journey", "pledge: form GET then POST, per pledge"),
            ("post", "pledge: POST (form fetched once)"),
        ):
            run_id = uuid.uuid4().hex[:8]
            self.sink.reset()
            figures = self.http(
                name,
                f"/campaigns/{SLUG}/pledge/",
                reference="bare insert",
                script="pledge.lua",
                script_args=(f"/campaigns/{SLUG}/pledge/", run_id, mode),
                # Measured after the confirmations are out (below), not while workers still send them.
                reference_after=False,
            )
            result = self.results[-1]
            seconds = figures["duration_us"] / 1e6
            stored = Pledge.objects.filter(email__startswith=f"{PLEDGE_RUN_EMAIL}{run_id}-")
            landed = stored.count()
            pledges_per_s = figures["posts_ok"] / seconds
            result.throughput, result.unit = round(pledges_per_s, 1), "pledges/s"
            result.target = ">= 40% of bare insert, every pledge stored"
            # A POST still in flight when wrk stops is stored but not counted by wrk.
            every_one = 0 <= landed - figures["posts_ok"] <= self.args.connections
            every_one = every_one and not figures["posts_refused"]
            outbox = OutboxEmail.objects.filter(kind="confirmation", subject_id__in=stored.values("pk"))
            load_ended = time.monotonic()
            while outbox.filter(sent_at__isnull=True).exists() and time.monotonic() < load_ended + 120:
                time.sleep(0.5)
            caught_up = time.monotonic() - load_ended
            self.reference_after("bare insert")
            result.ratio = round(pledges_per_s / self.references["bare insert"], 2)
            result.met = result.ratio >= 0.40 and every_one
            result.notes = [note for note in result.notes if not note.startswith("ratio to ")]
            result.notes.insert(0, self.reference_note("bare insert"))
            result.notes.append(
                f"{figures['posts_ok']} POSTs answered 302, {figures['posts_refused']} refused, "
                f"{figures['form_gets']} form GETs; rows that landed: {landed}; "
                f"outbox rows {outbox.count()}, "
                f"sent {outbox.filter(sent_at__isnull=False).count()}; confirmations at the sink "
                f"{self.sink.messages}, the last sent {caught_up:.1f} s after the load stopped; "
                "latency figures cover every request, GETs included"
            )
            result.notes.append(
                cpu_note(figures["cpu_s"], per=figures["posts_ok"], what="pledge", seconds=seconds)
            )
            for note in result.notes:
                print(f"    {note}", flush=True)
            print(f"    = {result.throughput} pledges/s, ratio {result.ratio} to the bare insert", flush=True)
            _pledge_runs_cleanup()

    def moderation(self) -> None:
        from django.contrib.auth import get_user_model

        from campaigns.models import Campaign
        from changeday.lib.emailaddr import canonical_email
        from moderation.services import pledge_moderate
        from outbox.models import OutboxEmail
        from pledges.models import (
            SECTOR_BITS,
            Pledge,
            Sector,
            Status,
            TaggedSector,
            total_keys_for,
        )
        from pledges.services import campaign_recompute_totals, pledge_dedupe_key

        campaign = Campaign.objects.get(slug=SLUG)
        organiser, _ = get_user_model().objects.get_or_create(
            username="bench-organiser", defaults={"email": "bench-organiser@example.invalid"}
        )
        tags = dict(Sector.objects.values_list("bit", "pk"))
        now = datetime.now(UTC)
        slugs = list(SECTOR_BITS)
        rows = []
        for n in range(PENDING):
            email = f"{MODERATION_EMAIL}{n}@example.invalid"
            text = f"I will answer call bells within two minutes, day and night, on ward {n}."
            sectors = {slugs[n % 4]} | ({slugs[(n + 1) % 4]} if n % 3 == 0 else set())
            rows.append(
                Pledge(
                    campaign=campaign,
                    text=text,
                    display_name="Bench",
                    role="Staff nurse",
                    region="london" if n % 2 else "wales",
                    kind="personal",
                    sector_mask=sum(SECTOR_BITS[slug] for slug in sectors),
                    email=email,
                    email_canonical=canonical_email(email),
                    consent_to_publish=True,
                    status=Status.PENDING,
                    submission_token=uuid.uuid4(),
                    dedupe_key=pledge_dedupe_key(email=email, text=text),
                    confirmed_at=now,
                )
            )
        created = Pledge.objects.bulk_create(rows, batch_size=2000)
        TaggedSector.objects.bulk_create(
            [
                TaggedSector(content_object_id=pledge.pk, tag_id=tags[bit])
                for pledge in created
                for bit in SECTOR_BITS.values()
                if pledge.sector_mask & bit
            ],
            batch_size=5000,
        )
        expected = Counter()
        for pledge in created:
            keys = total_keys_for(sector_mask=pledge.sector_mask, region=pledge.region, kind=pledge.kind)
            expected.update(keys)
        before = _totals(campaign)
        ids = [pledge.pk for pledge in created]
        self.sink.reset()
        load = _loadavg()
        times: list[float] = []
        with self.memory.during() as peaks:
            started = time.perf_counter()
            for first in range(0, len(ids), MODERATION_BATCH):
                t0 = time.perf_counter()
                result = pledge_moderate(
                    pledge_ids=ids[first : first + MODERATION_BATCH],
                    action="publish",
                    actor=organiser,
                    expected_status=Status.PENDING,
                )
                assert not result.skipped, result.skipped[:3]
                times.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
            # The publish emails go out through the outbox and Celery: wait for them.
            outbox = OutboxEmail.objects.filter(kind="published", subject_id__in=ids)
            deadline = time.monotonic() + 300
            while outbox.filter(sent_at__isnull=True).exists() and time.monotonic() < deadline:
                time.sleep(1)
            drained = time.perf_counter() - started
        after = _totals(campaign)
        wrong = {key: (before.get(key, 0), after.get(key, 0), n) for key, n in expected.items()}
        wrong = {key: v for key, v in wrong.items() if v[1] - v[0] != v[2]}
        drift = campaign_recompute_totals(campaign=campaign)
        published = Pledge.objects.filter(pk__in=ids, status=Status.PUBLISHED).count()
        times.sort()
        self.report(
            Result(
                scenario=f"moderation: publish {PENDING:,} pending in batches of {MODERATION_BATCH}",
                load_average=load,
                throughput=round(PENDING / elapsed, 1),
                unit="pledges/s",
                p50_ms=round(statistics.median(times) * 1000, 1),
                p99_ms=round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1),
                web_mb=peaks["web_mb"],
                celery_mb=peaks["celery_mb"],
                target="under 10 s",
                met=elapsed < 10 and not wrong and not drift and published == PENDING,
                notes=[
                    f"{elapsed:.2f} s for all {PENDING:,} (latency = one batch of {MODERATION_BATCH}); "
                    f"published {published:,}; counters moved by exactly the published pledges: "
                    f"{'yes' if not wrong else wrong}; recount found drift: {drift or 'none'}; "
                    f"{outbox.filter(sent_at__isnull=False).count():,} publish emails sent by Celery, "
                    f"{self.sink.messages:,} at the sink, {drained:.1f} s after the first batch"
                ],
            )
        )
        _moderation_cleanup(campaign)

    def recount(self) -> None:
        from campaigns.models import Campaign
        from pledges.models import Pledge, Status
        from pledges.services import campaign_recompute_totals

        campaign = Campaign.objects.get(slug=SLUG)
        count = Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED).count()
        load = _loadavg()
        times = []
        with self.memory.during() as peaks:
            for _ in range(3):
                started = time.perf_counter()
                drift = campaign_recompute_totals(campaign=campaign)
                times.append(time.perf_counter() - started)
        self.report(
            Result(
                scenario=f"recompute_totals over {count:,}",
                load_average=load,
                throughput=round(count / statistics.median(times), 0),
                unit="pledges/s",
                p50_ms=round(statistics.median(times) * 1000, 1),
                p99_ms=round(max(times) * 1000, 1),
                web_mb=peaks["web_mb"],
                celery_mb=peaks["celery_mb"],
                target="under 3 s",
                met=max(times) < 3,
                notes=[
                    f"3 runs: {', '.join(f'{t:.2f} s' for t in times)}; drift on the last: {drift or 'none'}"
                ],
            )
        )

    def reminders(self) -> None:
        from campaigns.models import Campaign
        from reminders.models import Anchor, Audience, Reminder

        campaign = Campaign.objects.get(slug=SLUG)
        _signups_ensure(campaign, SIGNUPS)
        _schedule_forget(campaign)
        reminder = Reminder.objects.create(
            campaign=campaign, anchor=Anchor.OPENING, days_before=0, audience=Audience.SIGNUPS
        )
        self._email_run(
            reminder, scenario=f"reminders: {SIGNUPS:,} recipients, 2 worker processes", count=SIGNUPS
        )

    def follow_through(self) -> None:
        """Issue 17's "did you do it?": every pledger of a campaign of their own asked at once,
        by the first follow-through moment (14 days after Change Day, to every published pledge)."""
        from reminders.models import Anchor, Audience, Reminder

        campaign = _follow_through_campaign_ensure(FOLLOWERS)
        _schedule_forget(campaign)
        moment = Reminder.objects.create(
            campaign=campaign,
            anchor=Anchor.AFTER_CHANGE_DAY,
            days_before=0,
            days_after=14,
            send_time=day_time(10, 0),
            audience=Audience.FOLLOW_ALL,
        )
        self._email_run(
            moment, scenario=f"follow-through: {FOLLOWERS:,} pledgers, 2 worker processes", count=FOLLOWERS
        )

    def _email_run(self, reminder: Any, *, scenario: str, count: int) -> None:
        """One due reminder or follow-through moment sent by the two workers, from the beat task's
        dispatch until the sink holds `count` messages, timed and checked for duplicates."""
        from reminders.models import ReminderDelivery
        from reminders.tasks import reminders_dispatch_task

        deliveries = ReminderDelivery.objects.filter(reminder=reminder)
        self.sink.reset()
        load = _loadavg()
        with self.memory.during() as peaks, self.cpu.during() as spent:
            started = time.perf_counter()
            reminders_dispatch_task.delay()
            deadline = time.monotonic() + self.args.reminder_timeout
            while self.sink.messages < count and time.monotonic() < deadline:
                time.sleep(1)
            at_sink = time.perf_counter() - started
            # Let the last batch record itself before reading the table.
            time.sleep(3)
        timeline = self.memory.timeline
        # Sink, table, sink: a send recorded between the two reads shows as the difference.
        at_sink_before = self.sink.messages
        statuses = dict(Counter(deliveries.values_list("status", flat=True)))
        counted = self.sink.report()
        early = [rss for t, rss in timeline if t < 30]
        late = [rss for t, rss in timeline if t > at_sink - 30]
        self.report(
            Result(
                scenario=scenario,
                load_average=load,
                throughput=round(counted["messages"] / at_sink, 1),
                unit="emails/s",
                web_mb=peaks["web_mb"],
                celery_mb=peaks["celery_mb"],
                target="under 300 s, no duplicates, Celery < 200 MB",
                met=(
                    counted["messages"] == count
                    and at_sink < 300
                    and not counted["recipients_twice"]
                    and not counted["message_ids_twice"]
                    and peaks["celery_mb"] < 200
                ),
                notes=[
                    f"{counted['messages']:,} messages at the sink in {at_sink:.1f} s "
                    f"({at_sink_before:,} before reading the deliveries, {counted['messages']:,} after), "
                    f"{counted['recipients']:,} distinct recipients, {counted['recipients_twice']} "
                    f"recipients twice, {counted['message_ids_twice']} Message-IDs twice; "
                    f"deliveries by status {statuses}; Celery pool RSS "
                    f"first 30 s max {max(early, default=0) / 1024:.1f} MB, last 30 s max "
                    f"{max(late, default=0) / 1024:.1f} MB",
                    f"REMINDER_SEND_RATE={self.env.get('REMINDER_SEND_RATE', '200 (default)')} per process",
                    cpu_note(spent, per=max(1, counted["messages"]), what="email", seconds=at_sink + 3),
                ],
            )
        )


def _totals(campaign: Any) -> dict[str, int]:
    from django.db.models import Sum

    from pledges.models import TotalShard

    rows = TotalShard.objects.filter(campaign=campaign).values("key").annotate(n=Sum("value"))
    return {row["key"]: row["n"] for row in rows}


def _moderation_cleanup(campaign: Any) -> None:
    """The moderation scenario's pledges go again, so every run starts at a million."""
    from pledges.models import Pledge
    from pledges.services import campaign_recompute_totals

    Pledge.objects.filter(campaign=campaign, email__startswith=MODERATION_EMAIL).delete()
    campaign_recompute_totals(campaign=campaign)


def _schedule_forget(campaign: Any) -> None:
    """The last bench run's schedule goes, its runs first: a moment that began sending cannot
    be deleted on its own (reminders.models.ReminderRun.reminder)."""
    from reminders.models import Reminder, ReminderRun

    ReminderRun.objects.filter(campaign=campaign).delete()
    Reminder.objects.filter(campaign=campaign).delete()


def _pledge_runs_cleanup() -> None:
    """The pledge runs' pledges go again, tags and outbox rows with them, so every run writes into
    the same million-row indexes. Kept, each run added a few thousand unconfirmed rows, and the
    CPU per POST rose as they gathered."""
    from outbox.services import outbox_forget
    from pledges.models import PLEDGE_EMAIL_KINDS, Pledge

    runs = Pledge.objects.filter(campaign__slug=SLUG, email__startswith=PLEDGE_RUN_EMAIL)
    outbox_forget(kinds=PLEDGE_EMAIL_KINDS, subject_ids=list(runs.values_list("pk", flat=True)))
    runs.delete()


def _follow_through_campaign_ensure(count: int) -> Any:
    """A campaign of its own, whose Change Day was three weeks ago and whose pledging is still
    open, holding `count` published pledges of one address each (load_pledges, once): its first
    follow-through moment is due now, and the million-pledge campaign is not needed."""
    from django.core.management import call_command

    from campaigns.models import Campaign
    from campaigns.services import campaign_create
    from pledges.models import Pledge, Status

    now = datetime.now(UTC)
    dates = {
        "opens_at": now - timedelta(days=60),
        "change_day": (now - timedelta(days=21)).date(),
        "deadline": now + timedelta(days=10),
    }
    campaign = Campaign.objects.filter(slug=FOLLOW_THROUGH_SLUG).first()
    if campaign is None:
        campaign = campaign_create(
            name="Bench follow-through",
            slug=FOLLOW_THROUGH_SLUG,
            hashtag="BenchFollow",
            description="Benchmark campaign for follow-through emails.",
            target=500_000,
            **dates,
        )
    else:
        # Kept in the same place relative to today, so the moment is due and outcomes are open.
        Campaign.objects.filter(pk=campaign.pk).update(outcomes_close=None, **dates)
        campaign.refresh_from_db()
    asked = Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED, wants_follow_through=True)
    have = asked.count()
    print(f"{have:,} pledgers to ask in {FOLLOW_THROUGH_SLUG}", flush=True)
    if have < count:
        call_command("load_pledges", campaign=FOLLOW_THROUGH_SLUG, count=count - have)
    return campaign


def _signups_ensure(campaign: Any, count: int) -> None:
    from reminders.models import ReminderSignup, SignupStatus

    have = ReminderSignup.objects.filter(campaign=campaign, status=SignupStatus.CONFIRMED).count()
    if have >= count:
        return
    now = datetime.now(UTC)
    ReminderSignup.objects.bulk_create(
        [
            ReminderSignup(
                campaign=campaign,
                email=f"signup-{n}@example.invalid",
                email_canonical=f"signup-{n}@example.invalid",
                status=SignupStatus.CONFIRMED,
                confirmed_at=now,
            )
            for n in range(count)
        ],
        batch_size=10_000,
        ignore_conflicts=True,
    )


# --- Data -------------------------------------------------------------------------------------


def database_ensure(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def data_ensure(count: int) -> None:
    from django.core.management import call_command

    from campaigns.models import Campaign
    from campaigns.services import campaign_create
    from pledges.models import Pledge, Status

    now = datetime.now(UTC)
    campaign = Campaign.objects.filter(slug=SLUG).first()
    if campaign is None:
        campaign = campaign_create(
            name="Bench",
            slug=SLUG,
            hashtag="Bench",
            description="Benchmark campaign.",
            opens_at=now - timedelta(days=60),
            change_day=(now + timedelta(days=10)).date(),
            deadline=now + timedelta(days=30),
            target=500_000,
        )
    elif campaign.deadline < now + timedelta(days=2):
        # Pledging and reminders need an open campaign: keep the old one open.
        Campaign.objects.filter(pk=campaign.pk).update(
            deadline=now + timedelta(days=30), change_day=(now + timedelta(days=10)).date()
        )
    _moderation_cleanup(campaign)
    have = Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED).count()
    print(f"{have:,} published pledges in {SLUG}", flush=True)
    if have < count:
        call_command("load_pledges", campaign=SLUG, count=count - have, organisations=ORGANISATIONS)
    elif not Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED, org__isnull=False).exists():
        # A million loaded before the directory: give them their organisations (minutes, once).
        call_command("load_pledges", campaign=SLUG, count=0, organisations=ORGANISATIONS)


SCENARIOS = (
    "reads",
    "organisations",
    "campaign",
    "pledges",
    "moderation",
    "recount",
    "reminders",
    "follow-through",
)
# Scenarios on campaigns of their own: run alone, they need no million pledges loaded.
OWN_DATA = frozenset({"follow-through"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/changeday_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per HTTP scenario")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (one per wrk thread)")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="run only these scenarios")
    parser.add_argument("--reminder-timeout", type=int, default=600)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="CPU niceness of the Celery workers and their session (README: one machine for both)",
    )
    args = parser.parse_args()
    # Stopped with SIGTERM (or SIGINT in a background job, which ignores it):
    # unwind, so gunicorn, the workers and the sink are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `apt-get install wrk` (Debian package).")

    VAR.mkdir(parents=True, exist_ok=True)
    http_port, smtp_port = _free_port(), _free_port()
    env = bench_environment(
        database_url=args.database_url, redis_url=args.redis_url, http_port=http_port, smtp_port=smtp_port
    )
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    started_at = datetime.now(UTC)
    print(f"changeday bench, {started_at:%Y-%m-%d %H:%M} UTC, load average {_loadavg()}", flush=True)

    database_ensure(args.database_url)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], check=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "--verbosity", "0"], check=True)

    import django

    django.setup()
    chosen = args.only or SCENARIOS
    if set(chosen) - OWN_DATA:
        data_ensure(PLEDGES)
    from changeday.celery import app

    # Tasks left in the bench broker by an interrupted run would land in this one.
    app.control.purge()

    sink = SinkProcess(smtp_port)
    services = Services(env, http_port, worker_nice=args.worker_nice)
    try:
        services.start()
        bench = Bench(args, env, services, sink)
        for name in SCENARIOS:
            if name in chosen:
                getattr(bench, name.replace("-", "_"))()
    finally:
        services.stop()
        sink.stop()

    out = VAR / f"results-{started_at:%Y%m%dT%H%M}.json"
    out.write_text(
        json.dumps(
            {
                "started_at": started_at.isoformat(),
                "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "duration_s": args.duration,
                "connections": args.connections,
                "reference_runs": bench.reference_runs,
                "results": [asdict(result) for result in bench.results],
            },
            indent=2,
        )
    )
    markdown = out.with_suffix(".md")
    markdown.write_text(results_markdown(bench.results))
    print(f"figures written to {out.relative_to(ROOT)} and {markdown.relative_to(ROOT)}")


def results_markdown(results: list[Result]) -> str:
    """The figures as bench/README.md shows them."""

    def figure(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    lines = [
        "| scenario | throughput | p50 ms | p99 ms | ratio | web MB | Celery MB | load avg | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        if result.scenario.startswith("reference:"):
            continue
        met = {True: "met", False: "**missed**", None: ""}[result.met]
        lines.append(
            f"| {result.scenario} | {figure(result.throughput)} {result.unit} | {figure(result.p50_ms)} | "
            f"{figure(result.p99_ms)} | {figure(result.ratio, 2)} | {figure(result.web_mb)} | "
            f"{figure(result.celery_mb)} | {result.load_average.split()[0]} | {result.target} {met} |"
        )
    lines.append("")
    for result in results:
        if not result.scenario.startswith("reference:") and result.notes:
            lines.append(f"- {result.scenario}: " + "; ".join(result.notes))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
