"""Soak under faults: a steady submission rate against the production shape while a worker
is killed and Redis is restarted; then a ledger of every comment from PostgreSQL.

The stack (all started here on 127.0.0.1, on free ports, and stopped by PID at the end):
- a fresh PostgreSQL database `replyguard_soak_<hex>` on the local server (`--pg-admin-url`),
  migrated with `replyguard migrate` and dropped afterwards, also on errors and Ctrl-C;
- its own `redis-server` (AOF on, `appendfsync everysec`, `noeviction`, as in
  docker-compose.yml) on a free port with its data in the scratch folder, so restarting
  it never touches the shared Redis on 6379;
- gunicorn with the API (`--web-workers`, default 2, `api.gunicorn_conf`), two Celery
  workers (`-Q moderation,maintenance`, concurrency 1 each) and Celery beat (the outbox
  sweeper, every `--sweep-interval` s for entries older than `--stale-after` s);
- `REPLYGUARD_ENV=production` with keys from `replyguard generate-keys`, one site from
  `replyguard add-site` whose flood and duplicate limits are turned off through the
  settings API (an admin token from `replyguard tokens create`), and the submission rate
  limits turned off (`REPLYGUARD_RATE_LIMITS=off`): the soak measures delivery, not abuse
  controls. Each comment still has its own X-Forwarded-For address (`PROXY_HOPS=1`), email
  and text, so the 15 s flood rule of the submit path never refuses one.

The load is open loop: request i is due at i / `--rate` seconds, whatever the answers
before it (latency is timed from that due time, so a stall shows up in full). Each comment
carries a unique token in its text. At `--kill-worker-at` s the first worker's main
process gets SIGKILL (then the rest of its process group, as a container runtime would)
and it is started again `--worker-down` s later; at `--kill-redis-at` s redis-server gets
SIGKILL and is started again `--redis-down` s later on the same port and AOF folder.

Afterwards the script waits (at most `--drain-timeout` s) until no comment of the run is
pending, then reads the ledger: accepted (202) vs rows, lost (a 202 without a row, or a
row never decided), duplicated (two rows with one text, two decisions for one comment, two
events of one type for one comment), the other answers by status, throughput, POST
latency p50/p99 (per phase too) and, per fault, how the service recovered: the first
decision once it was back, the longest stall of decisions, and when every comment
submitted around the fault had been decided.

Run (from the repository root; ~2–3 min):

    .venv/bin/python bench/soak.py
    .venv/bin/python bench/soak.py --rate 100 --duration 90 --kill-worker-at 30
    .venv/bin/python bench/soak.py --help

It prints Markdown tables and writes everything to bench/results/soak-<UTC time>.json
(git-ignored). The exit code is 1 when anything was lost or duplicated, a comment was
still undecided at the end, or the run failed; the scratch folder with every log is then
kept and its path printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

if __package__ in (None, ""):  # `python bench/soak.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import (
    DEFAULT_PEER_DIR,
    HOST,
    OUR_TEXT,
    RESULTS_DIR,
    ROOT,
    BenchError,
    Proc,
    _terminate,
    clean_env,
    drop_pg_database,
    fmt,
    free_port,
    git_commit,
    http_status,
    load_loadgen,
    load_summary,
    nearest_rank,
    versions,
    wait_for,
)
from cli.devstack import api_argv, beat_argv, worker_argv
from models import Comment, CommentStatus, Thread
from models.audit import Event
from models.decision import Decision

SITE = "soak"
LOAD_THREAD = "soak-load"
PRIME_THREAD = "soak-prime"
WORKER_COUNT = 2
# The settings that make every comment reach the pipeline's content checks: no flood or
# duplicate holds (every comment of the run shares most of its text and arrives 50/s).
RELAXED_POLICY = {
    "flood_max_per_ip": 0,
    "flood_max_per_email": 0,
    "flood_max_per_site": 0,
    "duplicates_window_days": 0,
}
SLOW_DECISION_S = 5.0  # a comment decided later than this after its submission was delayed
PHASE_SPAN_S = 15.0  # latency "during a fault": from the kill to this many seconds after
PREVIOUS_WINDOW_S = 10.0  # comments submitted this long before a kill count as in flight


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Everything a run depends on; stored with the results."""

    rate: float
    duration: float
    kill_worker_at: float
    worker_down: float
    kill_redis_at: float
    redis_down: float
    drain_timeout: float
    request_timeout: float
    max_in_flight: int
    sweep_interval: int
    stale_after: int
    web_workers: int
    pg_admin_url: str
    peer_dir: str
    keep_logs: bool


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=50.0, help="submissions per second (50)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    ap.add_argument(
        "--kill-worker-at", type=float, default=20.0, help="s into the load: kill -9 worker 1"
    )
    ap.add_argument(
        "--worker-down", type=float, default=5.0, help="s before worker 1 is started again (5)"
    )
    ap.add_argument(
        "--kill-redis-at", type=float, default=35.0, help="s into the load: kill -9 Redis"
    )
    ap.add_argument(
        "--redis-down", type=float, default=3.0, help="s before Redis is started again (3)"
    )
    ap.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="max s to wait after the load until no comment is pending (120)",
    )
    ap.add_argument(
        "--request-timeout", type=float, default=10.0, help="client timeout per POST (10 s)"
    )
    ap.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        help="client connections at once; later requests wait (and the wait is timed)",
    )
    ap.add_argument(
        "--sweep-interval",
        type=int,
        default=5,
        help="REPLYGUARD_SWEEP_INTERVAL_SECONDS of the stack (5)",
    )
    ap.add_argument(
        "--stale-after", type=int, default=10, help="REPLYGUARD_STALE_AFTER_SECONDS (10)"
    )
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (2)")
    ap.add_argument(
        "--pg-admin-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL maintenance database (the soak creates and drops its own)",
    )
    ap.add_argument(
        "--peer-dir",
        default=str(DEFAULT_PEER_DIR),
        help="shared/peers/isso (its loadgen.py lists process trees for the shutdown)",
    )
    ap.add_argument(
        "--keep-logs", action="store_true", help="keep the scratch folder with every log"
    )
    a = ap.parse_args(argv)
    if a.rate <= 0 or a.duration <= 0:
        ap.error("--rate and --duration must be positive")
    for name, at, down in (
        ("worker", a.kill_worker_at, a.worker_down),
        ("redis", a.kill_redis_at, a.redis_down),
    ):
        if not 0 <= at < a.duration or down < 0:
            ap.error(f"the {name} fault must start within the load and last >= 0 s")
    return Config(
        rate=a.rate,
        duration=a.duration,
        kill_worker_at=a.kill_worker_at,
        worker_down=a.worker_down,
        kill_redis_at=a.kill_redis_at,
        redis_down=a.redis_down,
        drain_timeout=a.drain_timeout,
        request_timeout=a.request_timeout,
        max_in_flight=a.max_in_flight,
        sweep_interval=a.sweep_interval,
        stale_after=a.stale_after,
        web_workers=a.web_workers,
        pg_admin_url=a.pg_admin_url,
        peer_dir=a.peer_dir,
        keep_logs=a.keep_logs,
    )


# ------------------------------------------------------------------------------------------
# the stack
# ------------------------------------------------------------------------------------------
def generated_keys(env: dict[str, str]) -> dict[str, str]:
    """`replyguard generate-keys`, parsed: REPLYGUARD_SECRET_KEY, _EMAIL_KEYS, _INDEX_KEY."""
    out = run_cli(["generate-keys"], env)
    keys = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if not {"REPLYGUARD_SECRET_KEY", "REPLYGUARD_EMAIL_KEYS", "REPLYGUARD_INDEX_KEY"} <= set(keys):
        raise BenchError(f"generate-keys printed no keys: {out!r}")
    return keys


def run_cli(args: list[str], env: dict[str, str]) -> str:
    """One `replyguard` command with `env`; its stdout (BenchError with stderr if it fails)."""
    replyguard = Path(sys.executable).with_name("replyguard")
    done = subprocess.run(
        [str(replyguard), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise BenchError(f"replyguard {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class SoakStack:
    """PostgreSQL database, own redis-server, gunicorn, two workers and beat."""

    def __init__(self, cfg: Config, lg: Any, workdir: Path) -> None:
        self.cfg, self.lg, self.workdir = cfg, lg, workdir
        self.redis_dir = workdir / "redis"
        self.redis_dir.mkdir()
        self.redis_port = free_port()
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.origin = self.base_url
        self.pg_database = f"replyguard_soak_{uuid.uuid4().hex[:10]}"
        self.database_url = ""
        self.env: dict[str, str] = {}
        self.reader: Engine | None = None
        self.token = ""
        self.redis: Proc | None = None
        self.redis_starts = 0
        self.api: Proc | None = None
        self.beat: Proc | None = None
        self.workers: list[Proc] = []
        self.worker_starts = [0] * WORKER_COUNT
        self.db_created = False

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        admin = create_engine(
            self.cfg.pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.pg_database}"'))
        finally:
            admin.dispose()
        self.db_created = True
        self.database_url = (
            make_url(self.cfg.pg_admin_url)
            .set(database=self.pg_database)
            .render_as_string(hide_password=False)
        )
        self.start_redis()
        base = clean_env() | {"PYTHONUNBUFFERED": "1"}
        self.env = base | generated_keys(base)
        self.env |= {
            "REPLYGUARD_ENV": "production",
            "REPLYGUARD_DATABASE_URL": self.database_url,
            "REPLYGUARD_BROKER_URL": f"redis://{HOST}:{self.redis_port}/0",
            "REPLYGUARD_CACHE_URL": f"redis://{HOST}:{self.redis_port}/1",
            "REPLYGUARD_INSTANCE_PATH": str(self.workdir / "instance"),
            "REPLYGUARD_PROXY_HOPS": "1",
            "REPLYGUARD_SWEEP_INTERVAL_SECONDS": str(self.cfg.sweep_interval),
            "REPLYGUARD_STALE_AFTER_SECONDS": str(self.cfg.stale_after),
            "REPLYGUARD_RATE_LIMITS": "off",
            "REPLYGUARD_LOG_LEVEL": "INFO",
        }
        run_cli(["migrate"], self.env)
        run_cli(["add-site", SITE, "--name", "Soak", "--origin", self.origin], self.env)
        token_out = run_cli(
            ["tokens", "create", "--site", SITE, "--role", "admin", "--label", "soak"], self.env
        )
        self.token = token_out.strip().splitlines()[0]
        self.reader = create_engine(self.database_url, poolclass=NullPool)
        api = api_argv(sys.executable, bind=f"{HOST}:{self.port}", workers=self.cfg.web_workers)
        self.api = Proc("api", api, ROOT, self.env, self.workdir / "api.log")
        self.api.start()
        for index in range(WORKER_COUNT):
            self.workers.append(
                Proc(
                    f"worker{index + 1}",
                    worker_argv(sys.executable, concurrency=1, hostname=f"soak-w{index + 1}@%h"),
                    ROOT,
                    self.env,
                    self.workdir / f"worker{index + 1}.log",
                )
            )
            self.start_worker(index)
        self.beat = Proc(
            "beat",
            beat_argv(sys.executable, schedule=self.workdir / "beat-schedule"),
            ROOT,
            self.env,
            self.workdir / "beat.log",
        )
        self.beat.start()
        api_proc = self.api
        wait_for(
            lambda: http_status(self.base_url + "/healthz") == 200,
            timeout=60,
            what="the API's /healthz",
            alive=api_proc.alive,
        )
        for index in range(WORKER_COUNT):
            self.wait_worker_ready(index, timeout=60)

    def start_worker(self, index: int) -> None:
        self.worker_starts[index] += 1
        self.workers[index].start()

    def wait_worker_ready(self, index: int, timeout: float) -> None:
        """Until the worker's log has as many "ready." lines as it has been started."""
        proc = self.workers[index]

        def ready() -> bool:
            text_ = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
            return text_.count(" ready.") >= self.worker_starts[index]

        wait_for(ready, timeout=timeout, what=f"{proc.name} 'ready.'", alive=proc.alive)

    def start_redis(self) -> None:
        self.redis_starts += 1
        argv = [
            "redis-server",
            *("--bind", HOST, "--port", str(self.redis_port)),
            *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
            *("--maxmemory-policy", "noeviction", "--daemonize", "no"),
            *("--dir", str(self.redis_dir)),
        ]
        self.redis = Proc("redis", argv, self.redis_dir, clean_env(), self.workdir / "redis.log")
        self.redis.start()
        redis_proc = self.redis
        wait_for(
            lambda: _redis_ping(self.redis_port),
            timeout=30,
            interval=0.02,
            what=f"redis-server on port {self.redis_port}",
            alive=redis_proc.alive,
        )

    # -- faults -----------------------------------------------------------------------------
    def kill_worker(self, index: int) -> dict[str, Any]:
        """SIGKILL the worker's main process, then whatever is left in its process group (its
        pool child), as a container runtime does when the main process dies."""
        proc = self.workers[index]
        assert proc.popen is not None
        pid = proc.popen.pid
        group = self.lg.proc_tree([pid])
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # the unreaped leader keeps the group id ours
        proc.popen.wait(timeout=10)
        proc.popen = None
        return {"pid": pid, "group": group}

    def kill_redis(self) -> dict[str, Any]:
        assert self.redis is not None and self.redis.popen is not None
        pid = self.redis.popen.pid
        os.kill(pid, signal.SIGKILL)
        self.redis.popen.wait(timeout=10)
        self.redis.popen = None
        return {"pid": pid}

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every process by PID (API and workers first, Redis last) and drop the
        database; each step runs even if an earlier one failed."""
        for proc in [self.api, *self.workers, self.beat, self.redis]:
            if proc is not None:
                try:
                    proc.stop(self.lg, grace=30)
                except Exception as exc:
                    print(f"  {proc.name}: stop failed: {exc!r}", flush=True)
        if self.reader is not None:
            self.reader.dispose()
        if self.db_created:
            drop_pg_database(self.cfg.pg_admin_url, self.pg_database)
            self.db_created = False

    # -- reads --------------------------------------------------------------------------------
    def pending_count(self) -> int:
        assert self.reader is not None
        with self.reader.connect() as conn:
            count = conn.scalar(
                select(func.count())
                .select_from(Comment)
                .join(Thread, Comment.thread_id == Thread.id)
                .where(Thread.key == LOAD_THREAD, Comment.status == CommentStatus.PENDING)
            )
        return int(count or 0)

    def log_count(self, pattern: str, names: Iterable[str]) -> int:
        total = 0
        for name in names:
            path = self.workdir / name
            if path.exists():
                total += len(re.findall(pattern, path.read_text(errors="replace")))
        return total

    def server_times_s(self) -> list[float]:
        """gunicorn's own time (`%(M)s` of api.gunicorn_conf) of every accepted comment POST:
        from reading the request to the response, without the wait for a free worker."""
        path = self.workdir / "api.log"
        found = re.findall(
            rf'"POST /api/v1/sites/{SITE}/comments" 202 \S+ (\d+)ms', path.read_text()
        )
        return [int(ms) / 1000 for ms in found]

    def sweeper_resent(self) -> int:
        logs = [f"worker{i + 1}.log" for i in range(WORKER_COUNT)]
        resent = 0
        for name in logs:
            path = self.workdir / name
            if path.exists():
                found = re.findall(r"core\.sweeper sweep .*?resent=(\d+)", path.read_text())
                resent += sum(int(n) for n in found)
        return resent


# ------------------------------------------------------------------------------------------
# load
# ------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One POST: when it was due (s after the load began), what came back, how long it took
    from the due time, and the comment id of a 202."""

    i: int
    due: float
    status: str
    latency: float
    sent_late: float
    comment_id: int | None = None


@dataclass
class FaultEvent:
    """One step of a fault, at `at` s after the load began (client clock) and wall `wall`."""

    fault: str
    step: str
    at: float
    wall: float
    detail: dict[str, Any] = field(default_factory=dict)


def client_ip(i: int) -> str:
    """A distinct address per request inside 10.0.0.0/8 (16 M before it repeats)."""
    n = i + 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def submission(run_id: str, i: int) -> dict[str, str]:
    token = f"{run_id}-{i}"
    return {
        "thread": LOAD_THREAD,
        "comment": OUR_TEXT.format(i=i, token=token),
        "name": f"Soak reader {i}",
        "email": f"soak{i}.{run_id}@example.com",
        "website": f"https://example.com/~s{i}",
    }


async def post_comment(
    session: aiohttp.ClientSession, stack: SoakStack, body: dict[str, str], ip: str
) -> tuple[int, dict[str, Any]]:
    headers = {
        "Origin": stack.origin,
        "Referer": stack.origin + "/articles/soak",
        "Accept": "application/json",
        "X-Forwarded-For": ip,
    }
    async with session.post(
        f"{stack.base_url}/api/v1/sites/{SITE}/comments", json=body, headers=headers
    ) as resp:
        payload: dict[str, Any] = {}
        with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
            payload = await resp.json()
        return resp.status, payload


async def one_request(
    session: aiohttp.ClientSession,
    stack: SoakStack,
    run_id: str,
    i: int,
    t0: float,
    due: float,
) -> Sample:
    loop = asyncio.get_running_loop()
    sent_late = loop.time() - (t0 + due)
    status = "error"
    comment_id = None
    try:
        code, payload = await post_comment(session, stack, submission(run_id, i), client_ip(i))
        status = str(code)
        if code == 202:
            comment_id = int(payload["id"])
    except TimeoutError:
        status = "timeout"
    except (aiohttp.ClientError, OSError, KeyError, ValueError) as exc:
        status = f"error:{type(exc).__name__}"
    latency = loop.time() - (t0 + due)
    return Sample(i, round(due, 4), status, latency, round(sent_late, 4), comment_id)


async def run_load(cfg: Config, stack: SoakStack, run_id: str, faults: FaultPlan) -> list[Sample]:
    """Open loop: request i is sent at t0 + i / rate, as its own task."""
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=cfg.request_timeout)
    connector = aiohttp.TCPConnector(limit=cfg.max_in_flight)
    total = int(cfg.rate * cfg.duration)
    tasks: list[asyncio.Task[Sample]] = []
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        t0 = loop.time()
        faults.begin(time.time() - (loop.time() - t0))
        for i in range(total):
            due = i / cfg.rate
            delay = t0 + due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one_request(session, stack, run_id, i, t0, due)))
        samples = await asyncio.gather(*tasks)
    return list(samples)


class FaultPlan:
    """Runs each fault on its own schedule in its own thread beside the load (blocking
    process work stays off the event loop; a slow restart never delays the next fault),
    recording each step."""

    def __init__(self, cfg: Config, stack: SoakStack) -> None:
        self.cfg, self.stack = cfg, stack
        self.events: list[FaultEvent] = []
        self.errors: list[str] = []
        self.wall0 = 0.0
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._cancel = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(at, action), name=name, daemon=True)
            for name, at, action in (
                ("fault-worker", cfg.kill_worker_at, self._worker_fault),
                ("fault-redis", cfg.kill_redis_at, self._redis_fault),
            )
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def begin(self, wall0: float) -> None:
        """The load has begun at `wall0` (unix s): the schedules count from there."""
        self.wall0 = wall0
        self._go.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._go.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _record(self, fault: str, step: str, **detail: Any) -> None:
        wall = time.time()
        with self._lock:
            self.events.append(FaultEvent(fault, step, round(wall - self.wall0, 3), wall, detail))
        print(f"  {wall - self.wall0:6.2f} s  {fault}: {step} {detail or ''}", flush=True)

    def _sleep_until(self, offset: float) -> bool:
        """False when cancelled."""
        delay = self.wall0 + offset - time.time()
        return not self._cancel.wait(max(0.0, delay))

    def _run(self, offset: float, action: Callable[[], None]) -> None:
        try:
            self._go.wait()
            if self._sleep_until(offset):
                action()
        except BaseException as exc:
            with self._lock:
                self.errors.append(repr(exc))
            print(f"  fault failed: {exc!r}", flush=True)

    def _worker_fault(self) -> None:
        killed = self.stack.kill_worker(0)
        self._record("worker", "killed", **killed)
        if not self._sleep_until(self.cfg.kill_worker_at + self.cfg.worker_down):
            return
        self.stack.start_worker(0)
        self._record("worker", "started")
        self.stack.wait_worker_ready(0, timeout=60)
        self._record("worker", "ready")

    def _redis_fault(self) -> None:
        killed = self.stack.kill_redis()
        self._record("redis", "killed", **killed)
        if not self._sleep_until(self.cfg.kill_redis_at + self.cfg.redis_down):
            return
        self.stack.start_redis()
        self._record("redis", "ready")


# ------------------------------------------------------------------------------------------
# ledger
# ------------------------------------------------------------------------------------------
def wait_drained(cfg: Config, stack: SoakStack) -> tuple[float, int]:
    """Seconds until no load comment is pending (bounded), and how many still are."""
    t0 = time.perf_counter()
    deadline = t0 + cfg.drain_timeout
    pending = stack.pending_count()
    while pending and time.perf_counter() < deadline:
        time.sleep(0.25)
        pending = stack.pending_count()
    return round(time.perf_counter() - t0, 2), pending


@dataclass
class Row:
    id: int
    status: str
    body: str
    submitted: float  # unix seconds (server clock: the same machine)
    decided: float | None


def read_rows(stack: SoakStack) -> tuple[list[Row], list[tuple[int, float]], Counter[str]]:
    """The run's comments, its decisions (comment id, unix time) and its events per
    (comment, type) key."""
    assert stack.reader is not None
    with stack.reader.connect() as conn:
        thread_id = conn.scalar(select(Thread.id).where(Thread.key == LOAD_THREAD))
        rows = conn.execute(
            select(
                Comment.id, Comment.status, Comment.body, Comment.submitted_at, Comment.decided_at
            ).where(Comment.thread_id == thread_id)
        ).all()
        decisions = conn.execute(
            select(Decision.comment_id, Decision.created_at)
            .join(Comment, Decision.comment_id == Comment.id)
            .where(Comment.thread_id == thread_id)
        ).all()
        events = conn.execute(
            select(Event.comment_id, Event.type)
            .join(Comment, Event.comment_id == Comment.id)
            .where(Comment.thread_id == thread_id)
        ).all()
    out = [
        Row(
            int(r.id),
            str(r.status),
            str(r.body),
            r.submitted_at.timestamp(),
            r.decided_at.timestamp() if r.decided_at is not None else None,
        )
        for r in rows
    ]
    return (
        out,
        [(int(cid), created.timestamp()) for cid, created in decisions],
        Counter(f"{cid}:{kind}" for cid, kind in events),
    )


def ledger(
    samples: list[Sample], rows: list[Row], decisions: list[tuple[int, float]], events: Counter[str]
) -> dict[str, Any]:
    accepted = {s.comment_id for s in samples if s.comment_id is not None}
    accepted_count = sum(1 for s in samples if s.comment_id is not None)
    by_id = {row.id: row for row in rows}
    missing = sorted(cid for cid in accepted if cid not in by_id)
    undecided = sorted(
        row.id for row in rows if row.id in accepted and row.status == CommentStatus.PENDING.value
    )
    texts = Counter(row.body for row in rows)
    same_text = sum(n - 1 for n in texts.values() if n > 1)
    per_comment = Counter(cid for cid, _at in decisions)
    double_decided = sorted(cid for cid, n in per_comment.items() if n > 1)
    decided_rows = [row for row in rows if row.status != CommentStatus.PENDING.value]
    never_logged = sorted(row.id for row in decided_rows if per_comment[row.id] == 0)
    double_events = sum(n - 1 for n in events.values() if n > 1)
    lags = sorted(row.decided - row.submitted for row in rows if row.decided is not None)
    return {
        "accepted_202": accepted_count,
        "accepted_distinct_ids": len(accepted),
        "rows": len(rows),
        "rows_without_202": len([row for row in rows if row.id not in accepted]),
        "lost_no_row": len(missing),
        "lost_undecided": len(undecided),
        "lost": len(missing) + len(undecided),
        "lost_ids": (missing + undecided)[:50],
        "duplicate_ids_in_202s": accepted_count - len(accepted),
        "duplicate_rows_same_text": same_text,
        "comments_decided_twice": len(double_decided),
        "duplicate_events": double_events,
        "duplicated": accepted_count
        - len(accepted)
        + same_text
        + len(double_decided)
        + double_events,
        "duplicated_ids": double_decided[:50],
        "decided_without_decision_row": len(never_logged),
        "statuses": dict(Counter(row.status for row in rows)),
        "decided_lag": {
            "p50_s": round(nearest_rank(lags, 50), 3) if lags else None,
            "p99_s": round(nearest_rank(lags, 99), 3) if lags else None,
            "max_s": round(lags[-1], 3) if lags else None,
            "over_5s": sum(1 for lag in lags if lag > SLOW_DECISION_S),
        },
    }


def fault_recovery(
    events: list[FaultEvent], rows: list[Row], decisions: list[tuple[int, float]]
) -> list[dict[str, Any]]:
    """Per fault: how long decisions stalled, the first decision once the process was back,
    and when every comment submitted around the fault (from PREVIOUS_WINDOW_S before the
    kill until it was back) had been decided."""
    decided_at = sorted(at for _cid, at in decisions)
    out = []
    for fault in dict.fromkeys(e.fault for e in events):
        steps = {e.step: e for e in events if e.fault == fault}
        if "killed" not in steps:
            continue
        killed = steps["killed"].wall
        back = steps["ready"].wall if "ready" in steps else None
        entry: dict[str, Any] = {
            "fault": fault,
            "killed_at_s": steps["killed"].at,
            "back_at_s": steps["ready"].at if "ready" in steps else None,
        }
        if back is not None:
            after = [at for at in decided_at if at >= back]
            entry["first_decision_after_back_s"] = round(after[0] - back, 3) if after else None
            # From the kill to the first decision once back: the longest time without one.
            end = after[0] if after else back + 60
            points = [killed, *(at for at in decided_at if killed < at <= end), end]
            gaps = [later - earlier for earlier, later in itertools.pairwise(points)]
            entry["longest_decision_gap_s"] = round(max(gaps), 3)
            around = [r for r in rows if killed - PREVIOUS_WINDOW_S <= r.submitted <= back]
            if around and all(r.decided is not None for r in around):
                last = max(r.decided for r in around if r.decided is not None)
                entry["backlog_drained_after_kill_s"] = round(last - killed, 3)
            else:
                entry["backlog_drained_after_kill_s"] = None
            lags = [r.decided - r.submitted for r in around if r.decided is not None]
            entry["comments_around"] = len(around)
            entry["slowest_decision_s"] = round(max(lags), 3) if lags else None
            entry["decided_after_5s"] = sum(1 for lag in lags if lag > SLOW_DECISION_S)
        out.append(entry)
    return out


def phases(cfg: Config, events: list[FaultEvent]) -> list[tuple[str, float, float]]:
    """(label, start, end) windows of the load by due time: before the first fault, each
    fault's first PHASE_SPAN_S seconds, and the rest."""
    kills = sorted((e.at, e.fault) for e in events if e.step == "killed")
    windows: list[tuple[str, float, float]] = []
    cursor = 0.0
    for index, (at, fault) in enumerate(kills):
        if at > cursor:
            windows.append(("before faults" if index == 0 else "between faults", cursor, at))
        limit = kills[index + 1][0] if index + 1 < len(kills) else cfg.duration
        end = min(at + PHASE_SPAN_S, limit)
        windows.append((f"{fault} kill → +{end - at:.0f} s", at, end))
        cursor = end
    if cursor < cfg.duration:
        windows.append(("after faults" if kills else "whole run", cursor, cfg.duration))
    return windows


def latency_rows(
    samples: list[Sample], windows: list[tuple[str, float, float]]
) -> list[dict[str, Any]]:
    out = []
    for label, start, end in [("whole run", 0.0, float("inf")), *windows]:
        cell = [s for s in samples if start <= s.due < end]
        ok = [s.latency for s in cell if s.status == "202"]
        summary = load_summary(ok)
        out.append(
            {
                "phase": label,
                "from_s": start,
                "to_s": None if end == float("inf") else end,
                "sent": len(cell),
                "accepted": len(ok),
                "other": dict(Counter(s.status for s in cell if s.status != "202")),
                **summary,
            }
        )
    return out


def timeline(samples: list[Sample], rows: list[Row], wall0: float, seconds: int) -> dict[str, Any]:
    """Per second of the run: 202s by due time, and decisions (server clock)."""
    accepted = Counter(int(s.due) for s in samples if s.status == "202")
    decided = Counter(int(r.decided - wall0) for r in rows if r.decided is not None)
    span = max([seconds, *decided.keys()]) + 1 if decided else seconds
    return {
        "accepted_per_s": [accepted.get(t, 0) for t in range(seconds)],
        "decided_per_s": [decided.get(t, 0) for t in range(span)],
    }


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------
def _counts(values: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{n}" for k, n in sorted(values.items())) or "0"


def markdown(cfg: Config, result: dict[str, Any]) -> str:
    led, load = result["ledger"], result["load"]
    meta = result["meta"]
    lag = led["decided_lag"]
    whole = result["latency"][0]
    server = result["server_latency"]
    head = (
        f"### Soak: {cfg.rate:g}/s for {cfg.duration:g} s; worker kill -9 at "
        f"{cfg.kill_worker_at:g} s (back after {cfg.worker_down:g} s), Redis kill -9 at "
        f"{cfg.kill_redis_at:g} s (back after {cfg.redis_down:g} s)"
    )
    lines = [
        head,
        "",
        f"{meta['cpu_count']} CPUs, load average {meta['loadavg_before'][0]:.2f} before and "
        f"{meta['loadavg_after'][0]:.2f} after (1 min); gunicorn ×{cfg.web_workers}, "
        f"{WORKER_COUNT} workers (-c 1), beat sweeping every {cfg.sweep_interval} s "
        f"(stale after {cfg.stale_after} s), Redis AOF everysec.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| sent | {load['sent']} ({load['offered_rps']:.1f}/s offered, "
        f"last one sent {load['send_lag_max_ms']:.0f} ms late at worst) |",
        f"| accepted (202) | {led['accepted_202']} |",
        f"| other answers | {_counts(load['non_202'])} |",
        f"| throughput (202/s) | {load['accepted_rps']:.1f} |",
        f"| POST latency p50 / p99 / max | {fmt(whole['p50_ms'])} / {fmt(whole['p99_ms'])} / "
        f"{fmt(whole['max_ms'])} ms |",
        f"| the same, inside gunicorn (no wait for a free worker) | "
        f"{fmt(server['p50_ms'])} / {fmt(server['p99_ms'])} / {fmt(server['max_ms'])} ms |",
        f"| rows of the run in PostgreSQL | {led['rows']} "
        f"(without a 202: {led['rows_without_202']}) |",
        f"| **lost** | **{led['lost']}** (202 without a row: {led['lost_no_row']}, "
        f"never decided: {led['lost_undecided']}) |",
        f"| **duplicated** | **{led['duplicated']}** (rows sharing a text: "
        f"{led['duplicate_rows_same_text']}, comments decided twice: "
        f"{led['comments_decided_twice']}, duplicate events: {led['duplicate_events']}, "
        f"ids answered twice: {led['duplicate_ids_in_202s']}) |",
        f"| decided as | {_counts(led['statuses'])} |",
        f"| submit → decided p50 / p99 / max | {fmt(lag['p50_s'], 3)} / {fmt(lag['p99_s'], 3)}"
        f" / {fmt(lag['max_s'], 2)} s ({lag['over_5s']} over {SLOW_DECISION_S:g} s) |",
        f"| backlog drained after the load | {result['drain']['seconds']:.1f} s "
        f"(pending left: {result['drain']['pending_left']}) |",
        f"| sweeper re-sends / API publish failures | {result['logs']['sweeper_resent']} / "
        f"{result['logs']['publish_failed']} |",
        f"| redundant task runs (already decided / lost the race) | "
        f"{result['logs']['already_decided']} / {result['logs']['lost_race']} |",
        "",
        "| phase (by due time) | sent | 202 | other | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["latency"][1:]:
        lines.append(
            f"| {row['phase']} ({row['from_s']:g}–{row['to_s']:g} s) | {row['sent']} | "
            f"{row['accepted']} | {_counts(row['other'])} | {fmt(row['p50_ms'])} | "
            f"{fmt(row['p99_ms'])} | {fmt(row['max_ms'])} |"
        )
    lines += [
        "",
        "| fault | killed at | back (ready) at | first decision after back | longest "
        "decision gap | comments around it | all of them decided after kill + | slowest "
        "submit → decided | decided > 5 s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in result["faults"]:
        lines.append(
            f"| {f['fault']} | {fmt(f['killed_at_s'], 2)} s | {fmt(f.get('back_at_s'), 2)} s | "
            f"{fmt(f.get('first_decision_after_back_s'), 3)} s | "
            f"{fmt(f.get('longest_decision_gap_s'), 2)} s | {f.get('comments_around', '–')} | "
            f"{fmt(f.get('backlog_drained_after_kill_s'), 2)} s | "
            f"{fmt(f.get('slowest_decision_s'), 2)} s | {f.get('decided_after_5s', '–')} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------
async def prime(stack: SoakStack) -> None:
    """Relax the site's flood and duplicate limits, then one comment all the way through."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.put(
            f"{stack.base_url}/api/v1/sites/{SITE}/moderation/settings",
            json=RELAXED_POLICY,
            headers={"Authorization": f"Bearer {stack.token}", "Accept": "application/json"},
        ) as resp:
            if resp.status != 200:
                raise BenchError(f"settings PUT answered {resp.status}: {await resp.text()}")
        body = submission("prime", 0) | {"thread": PRIME_THREAD}
        status, payload = await post_comment(session, stack, body, "192.0.2.1")
        if status != 202:
            raise BenchError(f"priming POST answered {status}: {payload}")
        url = f"{stack.base_url}/api/v1/sites/{SITE}/comments/{payload['id']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with session.get(url) as resp:
                state = (await resp.json()).get("status")
            if state != "pending":
                return
            await asyncio.sleep(0.05)
    raise BenchError("the priming comment was not decided within 60 s")


def soak(cfg: Config, stack: SoakStack, result: dict[str, Any]) -> None:
    print(f"starting the stack in {stack.workdir}", flush=True)
    stack.start()
    asyncio.run(prime(stack))
    run_id = uuid.uuid4().hex[:8]
    faults = FaultPlan(cfg, stack)
    faults.start()
    print(f"load: {cfg.rate:g}/s for {cfg.duration:g} s (run {run_id})", flush=True)
    try:
        samples = asyncio.run(run_load(cfg, stack, run_id, faults))
    finally:
        faults.cancel()
        faults.join(timeout=90)
    if faults.errors:
        raise BenchError(f"a fault step failed: {'; '.join(faults.errors)}")
    last_done = max(s.due + s.latency for s in samples)
    print("load done; waiting for the backlog", flush=True)
    drain_s, pending_left = wait_drained(cfg, stack)
    rows, decisions, events = read_rows(stack)
    accepted = [s for s in samples if s.status == "202"]
    result["load"] = {
        "run_id": run_id,
        "sent": len(samples),
        "offered_rps": round(len(samples) / cfg.duration, 2),
        "accepted_rps": round(len(accepted) / max(last_done, cfg.duration), 2),
        "last_answer_s": round(last_done, 3),
        "non_202": dict(Counter(s.status for s in samples if s.status != "202")),
        "send_lag_max_ms": round(max(s.sent_late for s in samples) * 1000, 1),
    }
    result["drain"] = {"seconds": drain_s, "pending_left": pending_left}
    result["ledger"] = ledger(samples, rows, decisions, events)
    result["fault_events"] = [asdict(e) for e in faults.events]
    result["faults"] = fault_recovery(faults.events, rows, decisions)
    result["latency"] = latency_rows(samples, phases(cfg, faults.events))
    result["timeline"] = timeline(samples, rows, faults.wall0, int(cfg.duration))
    worker_logs = [f"worker{i + 1}.log" for i in range(WORKER_COUNT)]
    result["logs"] = {
        "sweeper_resent": stack.sweeper_resent(),
        "publish_failed": stack.log_count("publish failed, the sweeper will re-send", ["api.log"]),
        "already_decided": stack.log_count(r"already decided", worker_logs),
        "lost_race": stack.log_count(r"lost the race to decide", worker_logs),
        "worker_errors": stack.log_count(r" (?:ERROR|CRITICAL) ", worker_logs),
        "api_errors": stack.log_count(r" (?:ERROR|CRITICAL) ", ["api.log"]),
    }
    result["server_latency"] = load_summary(stack.server_times_s())
    result["samples"] = [asdict(s) for s in samples]


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    lg = load_loadgen(cfg.peer_dir)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="replyguard-soak-"))
    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "cpu_count": os.cpu_count(),
            "loadavg_before": os.getloadavg(),
            # ingest.versions reads only `services` of its Config (to add Isso when listed).
            "versions": versions(argparse.Namespace(services=())),  # type: ignore[arg-type]
            "config": asdict(cfg),
        }
    }
    stack = SoakStack(cfg, lg, workdir)
    failure: str | None = None
    try:
        soak(cfg, stack, result)
    except KeyboardInterrupt:
        failure = "interrupted"
    except BenchError as exc:
        failure = str(exc)
    finally:
        result["meta"]["loadavg_after"] = os.getloadavg()
        try:
            stack.stop()
        except Exception as exc:
            failure = failure or f"cleanup failed: {exc!r}"
    result["meta"]["failure"] = failure
    table = markdown(cfg, result) if "ledger" in result else ""
    result["markdown"] = table
    if table:
        print()
        print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"soak-{started.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nraw results: {out}")
    bad = failure is not None
    if "ledger" in result:
        led = result["ledger"]
        bad = bad or led["lost"] > 0 or led["duplicated"] > 0
        bad = bad or result["drain"]["pending_left"] > 0
    if failure:
        print(f"FAILED: {failure}")
    if bad or cfg.keep_logs:
        print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
