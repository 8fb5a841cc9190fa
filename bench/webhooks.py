"""Webhook benchmark: approval → first delivery attempt latency under a steady load of
approvals, and whether a receiver that sleeps 15 s on every request slows moderation.

It runs `replyguard run` (the `make run` supervisor: gunicorn, the moderation worker, the
webhook worker, beat) on a fresh PostgreSQL database and an empty Redis db, registers
endpoints through the webhooks API, then submits comments at a steady rate. Every
comment is approved by the worker's checks, which writes a `comment.approved` delivery per
endpoint. Two phases, each on a fresh stack:

- `fast`: one endpoint, a loopback receiver answering 200 at once;
- `fast+slow`: the same, plus a second endpoint whose receiver sleeps 15 s on every
  request (the sender's deadline), so its attempts hold webhook threads the whole time.

Measured per phase: approval → first attempt at the fast receiver (the comment's
`decided_at` from the payload to the moment the receiver read the request, one clock),
and submit → decided of every comment (`decided_at − submitted_at` from the database).
The second figure is the one a slow receiver must not move.

    .venv/bin/python bench/webhooks.py                 # 10 comments/s for 30 s per phase
    .venv/bin/python bench/webhooks.py --rate 20 --duration 20
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import http.client
import http.server
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

if __package__ in (None, ""):  # `python bench/<script>.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import free_port, nearest_rank
from core import accounts
from core.sites import DEMO_SITE_KEY, get_site
from models import Comment, CommentStatus, Role, Thread
from models.migrate import upgrade

SLOW_SECONDS = 15.0
PHASES = ("fast", "slow", "uncapped")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Config:
    rate: float
    duration: float
    pg_admin_url: str
    redis_url: str
    web_workers: int
    worker_concurrency: int
    max_in_flight: int
    drain_timeout: float
    phases: list[str]


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="comments per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/10", help="an empty db, flushed after"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--max-in-flight", type=int, default=2, help="per-endpoint cap")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {', '.join(PHASES)}",
    )
    args = parser.parse_args(argv)
    return Config(
        args.rate,
        args.duration,
        args.pg_admin_url,
        args.redis_url,
        args.web_workers,
        args.worker_concurrency,
        args.max_in_flight,
        args.drain_timeout,
        [p for p in args.phases.split(",") if p],
    )


# -- a loopback receiver ---------------------------------------------------------------------


@dataclass
class Receiver:
    """Records when each webhook-id first arrived (and the payload), optionally sleeping."""

    sleep: float = 0.0
    first_seen: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> http.server.ThreadingHTTPServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                webhook_id = self.headers.get("webhook-id", "")
                with owner.lock:
                    owner.requests += 1
                    if webhook_id not in owner.first_seen:
                        owner.first_seen[webhook_id] = (at, json.loads(body))
                if owner.sleep:
                    time.sleep(owner.sleep)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                except OSError:
                    pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """`replyguard run` on a fresh PostgreSQL database."""

    cfg: Config
    workdir: Path
    max_in_flight: int
    port: int = field(default_factory=free_port)
    database: str = field(default_factory=lambda: f"replyguard_bench_wh_{uuid.uuid4().hex[:8]}")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        url = make_url(self.cfg.pg_admin_url).set(database=self.database)
        return url.render_as_string(hide_password=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        admin = create_engine(
            self.cfg.pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()
        upgrade(self.database_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYGUARD_")}
        env |= {
            "REPLYGUARD_DATABASE_URL": self.database_url,
            "REPLYGUARD_BROKER_URL": self.cfg.redis_url,
            "REPLYGUARD_FLOOD_SECONDS": "0",
            "REPLYGUARD_WEBHOOK_MAX_IN_FLIGHT": str(self.max_in_flight),
            "REPLYGUARD_WEBHOOK_POLL_SECONDS": "1",
            "REPLYGUARD_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [
            str(Path(sys.executable).with_name("replyguard")),
            "run",
            *("--port", str(self.port), "--workers", str(self.cfg.web_workers)),
            *("--concurrency", str(self.cfg.worker_concurrency)),
        ]
        log = (self.workdir / "stack.log").open("ab")
        self.proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the stack exited; see {self.workdir / 'stack.log'}")
            text_ = (self.workdir / "stack.log").read_text(errors="replace")
            if text_.count(" ready.") >= 2 and _healthy(self.base_url):
                return
            time.sleep(0.3)
        raise RuntimeError(f"the stack did not start; see {self.workdir / 'stack.log'}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        admin = create_engine(
            self.cfg.pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": self.database},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}"'))
        admin.dispose()
        client = redis.Redis.from_url(self.cfg.redis_url)
        client.flushdb()
        client.close()

    def admin_token(self) -> str:
        engine = create_engine(self.database_url, poolclass=NullPool)
        with Session(engine) as session:
            site = get_site(session, DEMO_SITE_KEY)
            issued = accounts.create_token(session, site, Role.ADMIN, label="bench")
            session.commit()
        engine.dispose()
        return issued.secret

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(
                method,
                path,
                body=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        return response.status, json.loads(raw) if raw else None

    def register(self, token: str, url: str) -> str:
        status, body = self.request(
            "POST",
            f"/api/v1/sites/{DEMO_SITE_KEY}/webhooks",
            {"url": url, "events": ["comment.approved"]},
            {"Authorization": f"Bearer {token}"},
        )
        if status != 201:
            raise RuntimeError(f"registering {url}: {status} {body}")
        endpoint_id: str = body["endpoint"]["id"]
        return endpoint_id

    def disable(self, token: str, endpoint_id: str) -> None:
        self.request(
            "PATCH",
            f"/api/v1/sites/{DEMO_SITE_KEY}/webhooks/{endpoint_id}",
            {"enabled": False},
            {"Authorization": f"Bearer {token}"},
        )

    def decided(self, thread: str) -> list[tuple[dt.datetime, dt.datetime | None, str]]:
        engine = create_engine(self.database_url, poolclass=NullPool)
        with Session(engine) as session:
            rows = session.execute(
                select(Comment.submitted_at, Comment.decided_at, Comment.status)
                .join(Thread, Thread.id == Comment.thread_id)
                .where(Thread.key == thread)
            ).all()
        engine.dispose()
        return [(r[0], r[1], r[2].value) for r in rows]


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# -- load ---------------------------------------------------------------------------------------


def submit_steadily(stack: Stack, cfg: Config, thread: str, seconds: float) -> int:
    """POST `rate` comments per second for `seconds` (open loop); returns how many got 202."""
    total = int(cfg.rate * seconds)
    accepted = 0

    def one(n: int) -> int:
        status, _ = stack.request(
            "POST",
            f"/api/v1/sites/{DEMO_SITE_KEY}/comments",
            {
                "thread": thread,
                "comment": f"Benchmark comment {n} on {thread}, nothing to hold.",
                "name": f"Reader {n}",
                "email": f"reader{n}.{thread}@example.org",
            },
        )
        return status

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for n in range(total):
            delay = started + n / cfg.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, n))
        accepted = sum(1 for f in futures if f.result() == 202)
    return accepted


def wait_drained(
    stack: Stack, thread: str, accepted: int, fast: Receiver, timeout: float
) -> list[tuple[dt.datetime, dt.datetime | None, str]]:
    """Wait (bounded) until every accepted comment is decided and delivered to `fast`."""
    deadline = time.monotonic() + timeout
    rows: list[tuple[dt.datetime, dt.datetime | None, str]] = []
    while time.monotonic() < deadline:
        rows = stack.decided(thread)
        with fast.lock:
            delivered = sum(
                1
                for _at, payload in fast.first_seen.values()
                if payload["data"]["comment"]["thread"]["key"] == thread
            )
        if len(rows) >= accepted and all(r[1] is not None for r in rows) and delivered >= accepted:
            break
        time.sleep(0.5)
    return rows


def run_phase(cfg: Config, name: str, with_slow: bool, max_in_flight: int) -> dict[str, Any]:
    fast = Receiver()
    slow = Receiver(sleep=SLOW_SECONDS)
    servers = [fast.serve()] + ([slow.serve()] if with_slow else [])
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-webhooks-{name.replace(' ', '')}-"))
    stack = Stack(cfg, workdir, max_in_flight)
    try:
        stack.start()
        token = stack.admin_token()
        endpoints = [stack.register(token, f"http://127.0.0.1:{servers[0].server_port}/fast")]
        if with_slow:
            endpoints.append(
                stack.register(token, f"http://127.0.0.1:{servers[1].server_port}/slow")
            )
        # Warm-up (not measured): imports, connections, the first queries of each process.
        warm = f"warmup-{uuid.uuid4().hex[:6]}"
        wait_drained(stack, warm, submit_steadily(stack, cfg, warm, 2.0), fast, cfg.drain_timeout)
        fast.first_seen.clear()
        thread = f"bench-{uuid.uuid4().hex[:6]}"
        accepted = submit_steadily(stack, cfg, thread, cfg.duration)
        rows = wait_drained(stack, thread, accepted, fast, cfg.drain_timeout)
        slow_started = slow.requests
        for endpoint_id in endpoints:
            stack.disable(token, endpoint_id)
    finally:
        stack.stop()
        for server in servers:
            server.shutdown()
            server.server_close()
    decided = [(r[1] - r[0]).total_seconds() * 1000 for r in rows if r[1] is not None]
    approval_to_attempt = []
    for at, payload in fast.first_seen.values():
        comment = payload["data"]["comment"]
        decided_at = dt.datetime.fromisoformat(comment["decided_at"])
        approval_to_attempt.append((at - decided_at.timestamp()) * 1000)
    approved = sum(1 for r in rows if r[2] == CommentStatus.APPROVED.value)
    return {
        "phase": name,
        "max_in_flight": max_in_flight,
        "accepted": accepted,
        "approved": approved,
        "decided": len(decided),
        "delivered_fast": len(fast.first_seen),
        "slow_attempts_started": slow_started,
        "submit_to_decided_ms": summary(decided),
        "approval_to_first_attempt_ms": summary(approval_to_attempt),
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": float(len(values)),
        "p50": nearest_rank(sorted(values), 50) if values else math.nan,
        "p99": nearest_rank(sorted(values), 99) if values else math.nan,
        "max": max(values) if values else math.nan,
    }


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    unknown = set(cfg.phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    plans = {
        "fast": ("fast", False, cfg.max_in_flight),
        "slow": ("fast+slow", True, cfg.max_in_flight),
        # No cap to speak of: the slow receiver may hold every one of the 8 webhook threads.
        "uncapped": ("fast+slow, uncapped", True, 8),
    }
    results = [run_phase(cfg, *plans[key]) for key in PHASES if key in cfg.phases]
    print(
        f"\nWebhooks: {cfg.rate:g} approvals/s for {cfg.duration:g} s per phase, "
        f"PostgreSQL, {cfg.worker_concurrency} moderation processes, 8 webhook threads, "
        f"slow receiver sleeps {SLOW_SECONDS:g} s\n"
    )
    print(
        "| phase | cap | accepted | decided | fast deliveries | slow attempts started "
        "| submit→decided p50 / p99 / max (ms) | approval→first attempt p50 / p99 / max (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        d, a = r["submit_to_decided_ms"], r["approval_to_first_attempt_ms"]
        print(
            f"| {r['phase']} | {r['max_in_flight']} | {r['accepted']} | {r['decided']} "
            f"| {r['delivered_fast']} "
            f"| {r['slow_attempts_started']} "
            f"| {d['p50']:.0f} / {d['p99']:.0f} / {d['max']:.0f} "
            f"| {a['p50']:.0f} / {a['p99']:.0f} / {a['max']:.0f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"webhooks-{stamp}.json"
    out.write_text(json.dumps({"config": cfg.__dict__, "results": results}, indent=2))
    print(f"\nraw results: {out}")
    complete = all(r["decided"] == r["accepted"] for r in results)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
