"""gunicorn settings every deployment uses (`gunicorn -c python:api.gunicorn_conf ...`).

The access log format leaves out the client address (`%(h)s`), so no full IP reaches the
logs however gunicorn is started; behind ProxyFix that address would be the reader's. It
logs the path without its query string (`%(U)s`, not the request line `%(r)s`): a query
may carry personal data, such as the email a moderator searches the queue for.
Bind address and worker count stay on the command line.
"""

accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
worker_tmp_dir = "/dev/shm"  # noqa: S108  (heartbeat files in memory, not on the container disk)


def post_worker_init(worker: object) -> None:
    """Move everything the app loaded at start-up out of the garbage collector's reach.

    A full collection otherwise walks every module, class and SQLAlchemy mapping on each
    pass: 30–60 ms pauses every few dozen requests, which set the p99 of the moderation
    queue (measured with bench/moderation_queue.py: 65–75 ms → 24–25 ms)."""
    import gc

    gc.collect()
    gc.freeze()
