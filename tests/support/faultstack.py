"""Private servers, a background submitter and the ledger check, for the fault suite.

`PostgresCluster` is a throwaway PostgreSQL cluster (initdb + pg_ctl in a temporary folder,
on a free port; as root the server runs as the `postgres` user, since initdb refuses root).
`FaultRedis` is a private redis-server on a free port, with or without AOF, that tests may
kill -9 and start again on the same folder. Neither ever touches 5432 or 6379, and both are
stopped by their own pid at the end.

`Submitter` POSTs comments from a thread at a steady rate while a fault is injected, and
keeps every answer. `check_ledger` is RELIABILITY §0's ledger invariant: every 202 has
exactly one comment row, every comment reached exactly one terminal decision, nothing else
was stored, and no outbox entry was left behind.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import redis
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from models import Comment, CommentStatus, Decision, OutboxEntry
from tests.support.devstack_proc import http_request
from tests.support.polling import wait_for
from tests.support.stack import LOOPBACK, ManagedProcess, free_port

TERMINAL = frozenset(
    {CommentStatus.APPROVED, CommentStatus.HELD, CommentStatus.REJECTED, CommentStatus.SPAM}
)
PG_CTL_TIMEOUT_SECONDS = 30


def _pg_bin(tool: str) -> str:
    """The newest installed PostgreSQL's `tool` (Debian keeps them off PATH)."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise FileNotFoundError(f"no PostgreSQL {tool}; install the `postgresql` package")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresCluster:
    """A private PostgreSQL cluster on 127.0.0.1:`port` (trust auth, user `postgres`)."""

    def __init__(self, port: int | None = None) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="replyguard-faults-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.data = self.base / "data"
        self.log_path = self.base / "postgres.log"
        self.port = port or free_port()
        self._pids: set[int] = set()

    def _ctl(self, *args: str) -> None:
        # Always with -l: a server started without it keeps pg_ctl's output pipe open.
        argv = _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), *args])
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_SECONDS + 15, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {done.stdout}{done.stderr}\n{self.log()}")

    def _options(self) -> str:
        # fsync off: only an OS crash could lose data, and these faults never crash the OS.
        return (
            f"-p {self.port} -k {self.base} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )

    def init(self) -> Self:
        argv = [
            _pg_bin("initdb"),
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"),
        ]
        done = subprocess.run(
            _as_postgres(argv), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        return self

    def start(self) -> None:
        self._ctl(
            "start", "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "-l", str(self.log_path),
            "-o", self._options(),
        )  # fmt: skip
        self._remember_pid()

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "-m", mode)

    def restart(self) -> None:
        self._ctl(
            "restart", "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "-m", "fast",
            "-l", str(self.log_path), "-o", self._options(),
        )  # fmt: skip
        self._remember_pid()

    def pid(self) -> int | None:
        """The postmaster's pid, from its pid file (None when it is not running)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _remember_pid(self) -> None:
        if (pid := self.pid()) is not None:
            self._pids.add(pid)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                suffix = f' TEMPLATE "{template}"' if template else ""
                conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
        finally:
            admin.dispose()
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server (by pg_ctl, then by pid if it is still there) and remove it all."""
        if self.pid() is not None:
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("fast")
        for pid in self._pids:
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


class FaultRedis:
    """A private redis-server on 127.0.0.1:`port` in `workdir`: AOF (everysec) or nothing on
    disk (`--save "" --appendonly no`, Celery's smoke-test setup); noeviction either way."""

    def __init__(self, workdir: Path, *, appendonly: bool) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self, timeout: float = 10.0) -> Self:
        if self.process is not None and self.process.running():
            return self
        self.starts += 1
        argv = [
            "redis-server",
            *("--bind", LOOPBACK, "--port", str(self.port), "--dir", str(self.workdir)),
            *("--daemonize", "no", "--save", "", "--maxmemory-policy", "noeviction"),
            *("--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"),
        ]
        self.process = ManagedProcess(
            f"redis-{self.starts}",
            argv,
            self.workdir / f"redis-{self.starts}.log",
            dict(os.environ),
            cwd=self.workdir,
        )
        self.process.start()
        wait_for(self.ping, timeout=timeout, interval=0.05, what=f"redis-server on {self.port}")
        return self

    def client(self) -> Any:
        # redis-py types its replies as "sync or awaitable"; this client is sync.
        return redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=2)

    def ping(self) -> bool:
        if self.process is None or not self.process.running():
            raise AssertionError(f"redis-server exited: {self.process and self.process.log_text()}")
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill9(self) -> None:
        """SIGKILL the server (no shutdown, no final AOF flush) and reap it."""
        assert self.process is not None and self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


# -- submitting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One POST and its answer (status 0: no HTTP answer at all)."""

    body: str
    status: int
    comment_id: int | None
    elapsed: float
    error: str | None
    retry_after: str | None
    sent_at: float


_numbers = iter(range(1, 1_000_000))
_numbers_lock = threading.Lock()
_WORDS = (
    *("council", "budget", "river", "park", "school", "library", "tram", "bridge"),
    *("harbour", "festival", "museum", "market", "garden", "election", "bakery"),
    *("cycling", "ferry", "theatre", "orchestra", "stadium", "clinic", "forest"),
)


def comment_text(tag: str = "") -> str:
    """A unique, ordinary comment (varied words, so near-duplicate checks stay quiet)."""
    token = uuid.uuid4().hex
    picks = [_WORDS[int(token[i : i + 2], 16) % len(_WORDS)] for i in range(0, 16, 2)]
    return f"{tag} I think the {' and the '.join(picks[:4])} matter most here. ref {token}".strip()


def submit(base_url: str, site: str, thread: str, body: str) -> Attempt:
    """POST one comment as JSON from a fresh client address and email."""
    with _numbers_lock:
        n = next(_numbers)
    payload = {
        "thread": thread,
        "comment": body,
        "name": f"Reader {n}",
        "email": f"reader-{n}-{uuid.uuid4().hex[:8]}@example.com",
    }
    started = time.monotonic()
    try:
        result = http_request(
            "POST",
            f"{base_url}/api/v1/sites/{site}/comments",
            body=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-Forwarded-For": f"198.51.{n // 250 % 250}.{n % 250 + 1}",
            },
            timeout=15,
        )
    except OSError as exc:
        return Attempt(body, 0, None, time.monotonic() - started, repr(exc), None, started)
    elapsed = time.monotonic() - started
    try:
        answer = result.json()
    except ValueError:
        answer = {}
    return Attempt(
        body=body,
        status=result.status,
        comment_id=answer.get("id") if result.status == 202 else None,
        elapsed=elapsed,
        error=answer.get("error"),
        retry_after=result.headers.get("Retry-After"),
        sent_at=started,
    )


class Submitter(threading.Thread):
    """Submits `total` comments at `per_second` from a thread; `attempts` keeps every answer."""

    def __init__(
        self, base_url: str, site: str, thread: str, *, total: int, per_second: float
    ) -> None:
        super().__init__(name="fault-submitter", daemon=True)
        self.base_url, self.site, self.thread_key = base_url, site, thread
        self.total, self.interval = total, 1.0 / per_second
        self.attempts: list[Attempt] = []
        self._halt = threading.Event()

    def run(self) -> None:
        for _ in range(self.total):
            if self._halt.is_set():
                return
            started = time.monotonic()
            self.attempts.append(submit(self.base_url, self.site, self.thread_key, comment_text()))
            self._halt.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def wait_sent(self, count: int, timeout: float) -> None:
        wait_for(lambda: len(self.attempts) >= count, timeout=timeout, what=f"{count} submissions")

    def finish(self, timeout: float = 120.0) -> list[Attempt]:
        self.join(timeout)
        if self.is_alive():
            self._halt.set()
            self.join(20)
            raise AssertionError("the submitter did not finish in time")
        return self.attempts


# -- the ledger ----------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the database holds for the submissions of one test."""

    accepted: int
    decided: int
    lost: int
    duplicated: int
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def pending_count(engine: Engine, ids: list[int]) -> int:
    with Session(engine) as session:
        decided = session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.id.in_(ids), Comment.status != CommentStatus.PENDING)
        )
    return len(ids) - int(decided or 0)


def wait_all_decided(engine: Engine, ids: list[int], *, timeout: float) -> float:
    """Wait until none of `ids` is pending; return how long that took (seconds)."""
    started = time.monotonic()
    wait_for(
        lambda: pending_count(engine, ids) == 0,
        timeout=timeout,
        interval=0.2,
        what=f"all {len(ids)} accepted comments to be decided",
    )
    return time.monotonic() - started


def check_ledger(engine: Engine, attempts: list[Attempt]) -> Ledger:
    """RELIABILITY §0 ledger for one test's own database: every 202 carried an id; each id is
    exactly one comment row, with the body that was sent; nothing that was refused (503)
    and nothing else is stored; each comment is terminal with exactly one Decision
    (pending → its status); no outbox entry is left."""
    accepted = [a for a in attempts if a.status == 202]
    problems = [f"202 without an id: {a}" for a in accepted if a.comment_id is None]
    ids = [a.comment_id for a in accepted if a.comment_id is not None]
    if len(ids) != len(set(ids)):
        problems.append(f"an id was handed out twice: {sorted(ids)}")
    sent_body = {a.comment_id: a.body for a in accepted}
    refused_bodies = {a.body for a in attempts if a.status != 202}
    with Session(engine) as session:
        rows = session.execute(select(Comment.id, Comment.body, Comment.status)).all()
        decisions = session.execute(
            select(Decision.comment_id, Decision.from_status, Decision.to_status)
        ).all()
        outbox_left = session.scalars(select(OutboxEntry.ref_id)).all()
    by_id = {r.id: r for r in rows}
    body_count = Counter(r.body for r in rows)
    per_comment: dict[int, list[tuple[str, str]]] = {}
    for d in decisions:
        per_comment.setdefault(d.comment_id, []).append((d.from_status, d.to_status))
    lost = duplicated = decided = 0
    statuses: Counter[str] = Counter()
    for comment_id in ids:
        row = by_id.get(comment_id)
        if row is None or row.body != sent_body[comment_id]:
            lost += 1
            problems.append(f"202 for {comment_id} but no such comment stored")
            continue
        if body_count[row.body] != 1:
            duplicated += body_count[row.body] - 1
            problems.append(f"comment {comment_id} stored {body_count[row.body]} times")
        moves = per_comment.get(comment_id, [])
        statuses[row.status.value] += 1
        if row.status not in TERMINAL:
            lost += 1
            problems.append(f"comment {comment_id} is still {row.status.value}")
        elif moves != [("pending", row.status.value)]:
            duplicated += max(0, len(moves) - 1)
            problems.append(f"comment {comment_id} decisions: {moves}")
        else:
            decided += 1
    strays = [r for r in rows if r.id not in sent_body]
    for stray in strays:
        kind = "a refused (non-202) submission" if stray.body in refused_bodies else "unknown"
        problems.append(f"comment {stray.id} stored without a 202: {kind}")
    if outbox_left:
        problems.append(f"outbox entries left behind: {sorted(outbox_left)}")
    return Ledger(len(ids), decided, lost, duplicated + len(strays), statuses, problems)


def assert_ledger_consistent(engine: Engine, attempts: list[Attempt]) -> Ledger:
    ledger = check_ledger(engine, attempts)
    assert not ledger.problems, "ledger check failed:\n" + "\n".join(ledger.problems[:40])
    assert ledger.lost == 0 and ledger.duplicated == 0
    assert ledger.decided == ledger.accepted
    return ledger
