"""gunicorn settings for the benchmark: no access log; optional app log level.

The app configures INFO logging on start, and the engine logs every task state change at INFO.
BENCH_APP_LOG_LEVEL (e.g. WARNING) raises the root level in each worker after the app is loaded,
to measure what that logging costs; unset, the app logs as it would in production.
"""
import logging
import os

accesslog = None
disable_redirect_access_to_syslog = True


def post_worker_init(worker):
    level = os.environ.get("BENCH_APP_LOG_LEVEL")
    if level:
        logging.getLogger().setLevel(level.upper())
