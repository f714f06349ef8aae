"""The commands README.md gives for local use run as written in a fresh checkout after `make run`,
with the virtualenv's python and no configuration; no production process starts in debug."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRINT_DEBUG = "from django.conf import settings; print('DEBUG', settings.DEBUG)"


def fresh_checkout_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """A shell with nothing of this project configured: what a newcomer has after `make run`."""
    env = {
        key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT") if key in os.environ
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CHANGEDAY_VAR_DIR"] = str(var_dir)
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def make_run_setup_commands() -> list[list[str]]:
    """The one-shot manage.py commands scripts/run-local runs before it starts the servers."""
    lines = (ROOT / "scripts" / "run-local").read_text().splitlines()
    return [
        ["python", *shlex.split(line.split("manage.py", 1)[1])]
        for line in lines
        if line.startswith("$PY manage.py") and "runserver" not in line
    ]


def readme_local_commands() -> list[str]:
    """Every `python manage.py ...` README.md gives outside its production example."""
    local = (ROOT / "README.md").read_text().split("\n## Production", 1)[0]
    return sorted(set(re.findall(r"`(python manage\.py [^`]+)`", local)))


def as_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    return [sys.executable, *argv[1:]] if argv[0] == "python" else argv


def test_readme_lists_local_commands_to_check() -> None:
    assert "python manage.py send_reminders" in readme_local_commands()


def test_the_readmes_local_commands_run_as_written_after_make_run(tmp_path: Path) -> None:
    env = fresh_checkout_env(tmp_path / "var")
    for argv in make_run_setup_commands():
        result = run([sys.executable, "manage.py", *argv[1:]], env)
        assert result.returncode == 0, (argv, result.stderr[-2000:])
    for command in readme_local_commands():
        result = run(as_argv(command), env)
        assert result.returncode == 0, (command, result.stderr[-2000:])


def test_manage_py_runs_in_debug_only_where_no_deployment_is_configured(tmp_path: Path) -> None:
    local = run([sys.executable, "manage.py", "shell", "-c", PRINT_DEBUG], fresh_checkout_env(tmp_path))
    assert "DEBUG True" in local.stdout, local.stderr[-2000:]

    deployed = fresh_checkout_env(
        tmp_path,
        DJANGO_SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="pledge.example.org",
        SITE_URL="https://pledge.example.org",
    )
    production = run([sys.executable, "manage.py", "shell", "-c", PRINT_DEBUG], deployed)
    assert "DEBUG False" in production.stdout, production.stderr[-2000:]

    only_a_database = fresh_checkout_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    refused = run([sys.executable, "manage.py", "check"], only_a_database)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in refused.stderr


@pytest.mark.parametrize("module", ["changeday.wsgi", "changeday.asgi", "changeday.celery"])
def test_serving_and_working_processes_never_default_to_debug(tmp_path: Path, module: str) -> None:
    load = f"import django, {module}; django.setup(); {PRINT_DEBUG}"
    unconfigured = run([sys.executable, "-c", load], fresh_checkout_env(tmp_path))
    assert unconfigured.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in unconfigured.stderr

    deployed = fresh_checkout_env(
        tmp_path,
        DJANGO_SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="pledge.example.org",
        SITE_URL="https://pledge.example.org",
    )
    production = run([sys.executable, "-c", load], deployed)
    assert "DEBUG False" in production.stdout, production.stderr[-2000:]
