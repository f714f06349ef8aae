"""Production settings: they refuse bad configuration loudly, pass Django's
deployment checks with the environment README documents, and gunicorn serves
the site and its static files with whitenoise."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from changeday.lib.env import env_bool, env_int, env_list
from testsupport.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    """The production environment README.md documents, on this machine."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHANGEDAY_", "ALLOWED_HOSTS", "SITE_URL", "EMAIL_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "changeday.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "pledge.example.org,127.0.0.1",
            "SITE_URL": "https://pledge.example.org",
        }
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_env_helpers_refuse_values_they_cannot_understand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_NUMBER", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER"):
        env_int("X_NUMBER", 1)
    monkeypatch.setenv("X_LIST", " a.example , b.example ,")
    assert env_list("X_LIST") == ["a.example", "b.example"]
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env_bool("X_FLAG") is True


def test_production_without_a_secret_key_refuses_to_start(tmp_path: Path) -> None:
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    # A deployment names its database; with neither, manage.py takes the local default (debug).
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_without_site_url_refuses_to_start_with_a_message() -> None:
    env = production_env()
    del env["SITE_URL"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SITE_URL must be set when DJANGO_DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    "site_url",
    ["http://pledge.example.org", "pledge.example.org", "https:///pledges", "ftp://pledge.example.org"],
)
def test_production_with_a_site_url_that_is_not_https_refuses_to_start_with_a_message(site_url: str) -> None:
    result = manage("check", env=production_env(SITE_URL=site_url))
    assert result.returncode != 0
    assert (
        f"SITE_URL must be the site's https address, e.g. https://pledge.example.org; got {site_url!r}"
        in (result.stderr)
    )


def test_production_with_an_https_site_url_starts() -> None:
    result = manage("check", env=production_env(SITE_URL="https://pledge.example.org/"))
    assert result.returncode == 0, result.stderr


def test_the_loopback_test_opt_out_lets_production_settings_take_an_http_site_url() -> None:
    env = production_env(SITE_URL="http://127.0.0.1:8000", CHANGEDAY_ALLOW_HTTP_SITE_URL="1")
    result = manage("shell", "-c", "from django.conf import settings; print(settings.SITE_URL)", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "http://127.0.0.1:8000"
    # Even so, the address must be one.
    env["SITE_URL"] = "127.0.0.1:8000"
    assert manage("check", env=env).returncode != 0


def test_debug_runs_on_the_local_address_without_site_url() -> None:
    env = production_env(DJANGO_DEBUG="1")
    del env["SITE_URL"]
    result = manage("shell", "-c", "from django.conf import settings; print(settings.SITE_URL)", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "http://127.0.0.1:8000"


def test_check_deploy_passes_with_the_documented_environment() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only("the server process needs a database it can share")
def test_gunicorn_serves_pages_and_whitenoise_serves_static_files(tmp_path: Path, settings: Any) -> None:
    db = settings.DATABASES["default"]
    database_url = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = production_env(
        DATABASE_URL=database_url,
        DJANGO_SECURE_SSL_REDIRECT="0",
        CHANGEDAY_VAR_DIR=str(tmp_path / "var"),
    )
    env["DJANGO_STATIC_ROOT"] = str(tmp_path / "static")
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "changeday.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        page = _get(f"http://127.0.0.1:{port}/")
        assert page.status == 200
        html = page.read().decode()
        assert "changeday" in html
        # Manifest storage: hashed names, cached for ever, served by whitenoise.
        css_path = html.split('href="/static/css/changeday.', 1)[1].split('"', 1)[0]
        css = _get(f"http://127.0.0.1:{port}/static/css/changeday.{css_path}")
        assert css.status == 200
        assert "max-age=315360000" in css.headers["Cache-Control"]
        assert b"--cd-blue" in css.read()
        assert _get(f"http://127.0.0.1:{port}/").headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.terminate()
        server.wait(timeout=20)


def _get(url: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
