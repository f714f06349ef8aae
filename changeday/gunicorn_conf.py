"""gunicorn's configuration: `gunicorn -c changeday/gunicorn_conf.py changeday.wsgi ...`.

gunicorn writes its own logs, outside Django's LOGGING: the access log (when
`--access-logfile` is given) and the error log, which names the path of a
request that failed. Both would carry the token of an emailed link: `%(r)s` and
`%(U)s` hold the path, and `%(f)s` the referrer, which a browser sends with every
stylesheet and script a confirm page loads. This logger runs every line of both
through changeday.lib.logfilters, so any access-log format keeps tokens out.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from changeday.lib.logfilters import RedactTokens


class RedactingLogger(Logger):
    """gunicorn's logger with RedactTokens on its two loggers, so the filter holds
    whatever handlers `--access-logfile`, `--error-logfile`, syslog or a log
    config attach, and on every configuration reload."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactTokens) for existing in log.filters):
                log.addFilter(RedactTokens())


logger_class = RedactingLogger
# Apache's combined format, as gunicorn's default, plus the time taken in
# microseconds; the request line, path and referrer come out redacted.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
