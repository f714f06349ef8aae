"""What the test suite and the benchmarks use to run the app for real: the pytest settings module,
the processes a test starts (redis-server, a PostgreSQL cluster, gunicorn, Celery workers), a real
SMTP inbox on loopback and a headless browser. Never imported by the product."""
