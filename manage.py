#!/usr/bin/env python3
from __future__ import annotations

import os
import sys

# What marks a deployment's environment: production always sets both (README, Production).
DEPLOYMENT_VARIABLES = ("DJANGO_SECRET_KEY", "DATABASE_URL")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")
    # A fresh checkout's commands (README: `python manage.py send_reminders` after `make run`) run in
    # debug on the embedded default, as cookiecutter-django's manage.py picks local settings. Only
    # here, and only when the environment configures no deployment: on a server, manage.py (migrate,
    # check --deploy) runs production, and wsgi.py, asgi.py and celery.py never default to debug, so
    # no serving or working process starts in debug by accident. DJANGO_DEBUG, when set, decides.
    if not any(os.environ.get(name) for name in DEPLOYMENT_VARIABLES):
        os.environ.setdefault("DJANGO_DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
