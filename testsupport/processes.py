"""Real services a fault test starts, breaks and brings back by itself.

The shared PostgreSQL and Redis serve everyone's test runs on this machine and
must never be stopped, so a fault test makes its own: a Redis on a free
loopback port, a throw-away PostgreSQL cluster in a temporary directory, and
the app's own processes (a gunicorn, a Celery worker) pointed at them.
Nothing here knows about campaigns or pledges.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def postgres_bin() -> Path:
    """The directory of the installed PostgreSQL's server programs (initdb, pg_ctl): pg_config says
    where, else the newest of Debian's /usr/lib/postgresql/<version>/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(found.stdout.strip())
        if found.returncode == 0 and (bindir / "initdb").exists():
            return bindir
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise FileNotFoundError("no PostgreSQL server programs: install postgresql (initdb, pg_ctl)")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")


class RedisServer:
    """A redis-server that keeps nothing on disk, on its own loopback port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        # The same port every time: clients configured before an outage must
        # find it again afterwards, as they would a restarted production Redis.
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), timeout=10, what=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not port_open(self.port), timeout=10, what="redis-server to stop")


class PostgresCluster:
    """A throw-away PostgreSQL cluster (trust auth) owned by the postgres user."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _as_postgres(self, *args: str) -> None:
        command = [*args]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            command = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres", group="postgres")
        self._as_postgres(
            str(postgres_bin() / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._as_postgres(
            str(postgres_bin() / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-o",
            options,
            "-m",
            "fast",
            "-w",
            action,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop")


def database_url() -> str:
    """The URL of the database this test runs on, for the app processes it starts."""
    from django.db import connection

    params = connection.settings_dict
    auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    return f"postgres://{auth}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


def django_env(**overrides: str) -> dict[str, str]:
    """The environment of an app process (web or worker) started by a test."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "testsupport.settings",
            # Plain HTTP between the test and the app: cookies must come back.
            "DJANGO_SECURE_COOKIES": "0",
            # Production settings over plain http on the loopback.
            "CHANGEDAY_ALLOW_HTTP_SITE_URL": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


class AppProcess:
    """A process of the app (gunicorn, a Celery worker) in its own session, so a
    test can kill it and every child at once, as a machine failure would."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, *, timeout: float) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"process exited ({self.process.returncode}):\n{self.output()[-3000:]}")
            return text in self.output()

        wait_until(seen, timeout=timeout, what=f"{text!r} in {self.log.name}", interval=0.2)

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up code runs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log_file.close()


def manage(*args: str, env: Mapping[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def celery_worker(
    *, env: Mapping[str, str], log: Path, name: str, pool: str = "solo", concurrency: int = 1
) -> AppProcess:
    """A real `celery worker` process, returned once it consumes."""
    worker = AppProcess(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "changeday",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        log,
    )
    worker.wait_for_output(" ready.", timeout=60)
    return worker


def gunicorn(*, env: Mapping[str, str], log: Path, port: int, access_log: bool = False) -> AppProcess:
    """The production web server with the production configuration, one sync worker:
    every request shares one process and so one persistent database connection.
    With access_log, gunicorn's access log goes to `log` too."""
    server = AppProcess(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(BASE_DIR / "changeday" / "gunicorn_conf.py"),
            "changeday.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "60",
            *(["--access-logfile", "-"] if access_log else []),
        ],
        env,
        log,
    )

    def answers() -> bool:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.output()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/campaigns/", timeout=5):
                return True
        except OSError:
            return False

    wait_until(answers, timeout=60, what="gunicorn to answer", interval=0.3)
    return server


CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(page: str, *, where: str) -> str:
    """The CSRF token of the form on `page` (fetched from `where`)."""
    match = CSRF_FIELD.search(page)
    assert match, f"{where} has no CSRF token"
    return match[1]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A person's browser against a real server: cookies, the CSRF token taken
    from the page, redirects answered and not followed. URLs are joined to
    `base`; a test of several nodes leaves it empty and names the node each time."""

    def __init__(self, base: str = "", *, timeout: float = 60) -> None:
        self.base = base
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects()
        )

    def get(self, url: str) -> tuple[int, str]:
        return self._open(url, None)

    def post(self, url: str, data: dict[str, Any]) -> tuple[int, str]:
        return self._open(url, urllib.parse.urlencode(data, doseq=True).encode())

    def form_post(self, form_url: str, post_url: str, data: dict[str, Any]) -> tuple[int, str]:
        """Fetch a page with the form, then post it (with its CSRF token), maybe to another node."""
        status, page = self.get(form_url)
        assert status == 200, f"{form_url} answered {status}"
        return self.post(post_url, {**data, "csrfmiddlewaretoken": csrf_token(page, where=form_url)})

    def _open(self, url: str, body: bytes | None) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + url, data=body, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


class WorkerKilled(BaseException):
    """Raised where a test kills a worker mid-send: a BaseException, so no
    handler of the code under test records anything, as after a real kill."""
