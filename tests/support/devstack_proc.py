"""`replyguard run` (what `make run` starts) as a real subprocess, for end-to-end tests.

`DevStackProcess` runs `<venv>/bin/replyguard run --port <free port>` with its working
directory set to a temporary folder, so the embedded default (SQLite file, redis-server on
a unix socket, AOF, Celery beat schedule, development keys) is created in `<workdir>/instance`.
Everything the stack prints goes to one log file in the work directory. `start()` returns
once the banner is printed, `GET /healthz` answers 200 and the Celery worker has logged
"ready."; `stop()` sends SIGTERM to the supervisor (which stops its children, Redis last),
waits, and only as a last resort kills what is left.

Every process of one stack is recognised by a unique marker variable in its environment
(the supervisor passes its environment on to all of its children, and they to theirs), so
`stop()` can prove that nothing is left behind, orphans included, and never touches a
process it did not start. redis-server overwrites its environment block when it sets its
process title, so it is recognised by its socket path or working directory instead:
`stop()` also checks that no redis-server still runs from the instance folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, cast

import redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
MARKER_VAR = "RGTEST_DEVSTACK_ID"
BANNER = "Replyguard is running"
STOPPED_BANNER = "Replyguard stopped."
WORKER_READY_RE = re.compile(r"\S+@\S+ ready\.\s*$", re.MULTILINE)
START_TIMEOUT_SECONDS = 60.0
# The supervisor gives its children 15 s to stop, then Redis 10 s.
STOP_TIMEOUT_SECONDS = 40.0
LEFTOVER_GRACE_SECONDS = 10.0
PORT_ATTEMPTS = 3
DECIDED_STATUSES = frozenset({"approved", "held", "rejected", "spam"})
# Celery workers of one stack: moderation (+ maintenance) and webhook deliveries.
WORKERS = 2


class StackLeakError(AssertionError):
    """Processes of a stopped stack were still running (they have been killed since)."""


class PortInUseError(RuntimeError):
    """Something else listens on the port the stack was given."""


def replyguard_executable() -> Path:
    """The `replyguard` console script of the virtualenv running the tests."""
    for candidate in (
        Path(sys.prefix) / "bin" / "replyguard",
        PROJECT_ROOT / ".venv" / "bin" / "replyguard",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("no `replyguard` script; run `make install` first")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


# -- processes, read from /proc -----------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    """One process as /proc shows it; (pid, starttime) identifies it even if pids are reused."""

    pid: int
    ppid: int
    pgid: int
    state: str
    starttime: int
    argv: tuple[str, ...]

    @property
    def cmdline(self) -> str:
        return " ".join(self.argv)

    def is_running(self) -> bool:
        """Still this very process (same start time) and not a zombie."""
        now = proc_info(self.pid)
        return now is not None and now.starttime == self.starttime and now.state != "Z"


def proc_info(pid: int) -> ProcInfo | None:
    """The process `pid`, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw_argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (in parentheses) may contain spaces: split after the last ")".
    rest = stat[stat.rindex(")") + 2 :].split()
    argv = tuple(part.decode(errors="replace") for part in raw_argv.split(b"\0") if part)
    return ProcInfo(
        pid=pid,
        ppid=int(rest[1]),
        pgid=int(rest[2]),
        state=rest[0],
        starttime=int(rest[19]),
        argv=argv,
    )


def all_processes() -> Iterator[ProcInfo]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = proc_info(int(entry.name))
            if info is not None:
                yield info


def children_of(pid: int) -> list[ProcInfo]:
    """Direct, live children of `pid`."""
    return [p for p in all_processes() if p.ppid == pid and p.state != "Z"]


def processes_with_marker(marker: str) -> list[ProcInfo]:
    """Live processes whose environment carries `MARKER_VAR=marker`."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for info in all_processes():
        if info.state == "Z":
            continue
        try:
            environ = Path(f"/proc/{info.pid}/environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle in environ.split(b"\0"):
            found.append(info)
    return found


def redis_servers_for(instance: Path) -> list[ProcInfo]:
    """Live redis-server processes serving from `instance` (by socket path or working dir)."""
    found = []
    for info in all_processes():
        if info.state == "Z" or "redis-server" not in info.cmdline:
            continue
        try:
            cwd = os.readlink(f"/proc/{info.pid}/cwd")
        except OSError:
            cwd = ""
        if f"{instance}/redis.sock" in info.cmdline or cwd == str(instance):
            found.append(info)
    return found


def kill_processes(processes: list[ProcInfo]) -> None:
    """SIGKILL each process that is still the one described (never a reused pid)."""
    for info in processes:
        if info.is_running():
            with suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)


def wait_gone(processes: list[ProcInfo], timeout: float) -> list[ProcInfo]:
    """Wait until every process has exited; return those still running at the deadline."""
    deadline = time.monotonic() + timeout
    remaining = [p for p in processes if p.is_running()]
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        remaining = [p for p in remaining if p.is_running()]
    return remaining


# -- HTTP, without following redirects ----------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    """Status, headers and body of one HTTP exchange."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResult:
    """One request; 3xx/4xx/5xx are returned, not raised or followed."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpResult(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResult(exc.code, dict(exc.headers.items()), exc.read())


# -- the stack -----------------------------------------------------------------------------


class DevStackProcess:
    """`replyguard run` in `workdir`; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.workdir = workdir.resolve()
        self.instance = self.workdir / "instance"
        self._own_port = port is None
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.marker = uuid.uuid4().hex
        self.log_path = self.workdir / f"stack-{self.marker[:8]}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._seen: dict[tuple[int, int], ProcInfo] = {}
        self._stopped = False
        self._launches = 0

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def listening_line(self) -> str:
        return f"Listening at: {self.base_url} "

    def environment(self) -> dict[str, str]:
        """The inherited environment without any Replyguard configuration, plus ours."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("REPLYGUARD_") and key != "PORT"
        }
        env.update(PORT=str(self.port), PYTHONUNBUFFERED="1", **{MARKER_VAR: self.marker})
        env.update(self.extra_env)
        return env

    def start(self) -> Self:
        """Start the stack and wait until it can take and decide comments.

        If another process takes the chosen port before gunicorn binds it, the stack is
        stopped and started again on a fresh port (unless the caller chose the port).
        """
        if self.process is not None:
            raise RuntimeError("this stack was started already")
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._launch()
            try:
                self.wait_ready(self.start_timeout)
            except PortInUseError:
                self.stop()
                if not self._own_port or attempt == PORT_ATTEMPTS:
                    raise
                self.port = free_port()
                continue
            except BaseException:
                with suppress(StackLeakError):  # the startup error is the one to report
                    self.stop()
                raise
            break
        self.processes()  # remember every process of the running stack
        return self

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._launches += 1
        if self._launches > 1:  # a fresh log, so that old "ready." lines do not count
            self.log_path = self.workdir / f"stack-{self.marker[:8]}-{self._launches}.log"
        self._stopped = False
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(replyguard_executable()), "run", "--port", str(self.port)],
            cwd=self.workdir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float, *, worker_ready_lines: int = WORKERS) -> None:
        """Banner printed, /healthz 200 and `worker_ready_lines` "ready." lines logged."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        healthy = False
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"`replyguard run` exited with {self.process.returncode} while starting:\n"
                    + self.log_tail()
                )
            text = self.log_text()
            if f"Connection in use: ('{LOOPBACK}', {self.port})" in text:
                raise PortInUseError(f"port {self.port} was taken by another process")
            # gunicorn's own line: the port is ours, not some other server's that took it
            if BANNER in text and self.listening_line in text and not healthy:
                with suppress(OSError):
                    healthy = http_request("GET", self.url("/healthz"), timeout=2).status == 200
            if healthy and len(WORKER_READY_RE.findall(text)) >= worker_ready_lines:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the stack was not ready within {timeout}s:\n" + self.log_tail())

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS, *, check_leftovers: bool = True) -> None:
        """SIGTERM the supervisor and wait; SIGKILL what is left only as a last resort.

        Raises StackLeakError (after killing them) if any process of this stack, or any
        redis-server of its instance folder, outlived the supervisor.
        """
        if self.process is None or self._stopped:
            return
        self._stopped = True
        with suppress(OSError):
            self.processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_everything()
        self._close_log()
        if check_leftovers:
            self.assert_nothing_left()

    def crash(self, *, keep_redis: bool = True) -> ProcInfo | None:
        """Simulate a crash: SIGKILL the supervisor and every child's process group except
        (with keep_redis) the redis-server, which is left running. Returns that Redis."""
        assert self.process is not None and self.process.poll() is None
        children = children_of(self.process.pid)
        kept = next((c for c in children if "redis-server" in c.cmdline), None)
        doomed = [c for c in children if c != kept or not keep_redis]
        group_members = [p for p in self.processes() if p.pgid in {c.pid for c in doomed}]
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        for child in doomed:
            if child.is_running():
                with suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
        left = wait_gone(doomed + group_members, timeout=10)
        assert not left, f"processes survived SIGKILL: {left}"
        self._close_log()
        return kept

    def assert_nothing_left(self) -> None:
        """No process of this stack and no redis-server of its instance still runs."""
        suspects = {(p.pid, p.starttime): p for p in self._seen.values()}
        suspects |= {(p.pid, p.starttime): p for p in processes_with_marker(self.marker)}
        suspects |= {(p.pid, p.starttime): p for p in redis_servers_for(self.instance)}
        left = wait_gone(list(suspects.values()), LEFTOVER_GRACE_SECONDS)
        if left:
            kill_processes(left)
            wait_gone(left, 5)
            raise StackLeakError(
                "still running after the stack stopped (now killed):\n"
                + "\n".join(f"  {p.pid} {p.cmdline}" for p in left)
            )

    def _kill_everything(self) -> None:
        assert self.process is not None
        ours = self.processes()
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        kill_processes(ours)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        _exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- looking at it -------------------------------------------------------------------
    def processes(self) -> list[ProcInfo]:
        """Every live process of this stack (and remember them for the leak check)."""
        found = processes_with_marker(self.marker)
        for info in found:
            self._seen[(info.pid, info.starttime)] = info
        return found

    def supervisor_children(self) -> list[ProcInfo]:
        assert self.process is not None
        return children_of(self.process.pid)

    def worker_main(self) -> ProcInfo:
        """The moderation worker's main process (the supervisor's child running `celery
        worker` on the moderation queue; the webhook worker is another child)."""
        workers = [
            c
            for c in self.supervisor_children()
            if "celery" in c.argv
            and "worker" in c.argv  # exact argv items: not `beat`
            and "webhooks" not in c.argv
        ]
        assert len(workers) == 1, f"expected one Celery worker, found {workers}"
        return workers[0]

    def redis_pid(self) -> int:
        return int((self.instance / "redis.pid").read_text().strip())

    def blocked_consumers(self) -> int:
        """Broker clients blocked in BRPOP right now, i.e. Celery workers waiting for work."""
        client = redis.Redis(unix_socket_path=str(self.instance / "redis.sock"))
        try:
            clients = cast("list[dict[str, str]]", client.client_list())
            return sum("b" in c.get("flags", "") for c in clients)
        finally:
            client.close()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def worker_ready_count(self) -> int:
        return len(WORKER_READY_RE.findall(self.log_text()))

    # -- talking to it -------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def post_json(
        self, path: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> HttpResult:
        return http_request(
            "POST",
            self.url(path),
            body=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **(headers or {}),
            },
        )

    def post_form(
        self, path: str, fields: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> HttpResult:
        return http_request(
            "POST",
            self.url(path),
            body=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )

    def get_json(self, path_or_url: str) -> Any:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        result = http_request("GET", url, headers={"Accept": "application/json"})
        assert result.status == 200, (result.status, result.body[:500])
        return result.json()

    def get_text(self, path_or_url: str) -> str:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        result = http_request("GET", url, headers={"Accept": "text/html"})
        assert result.status == 200, (result.status, result.body[:500])
        return result.body.decode()

    def wait_decided(self, status_url: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll a comment's status URL until it is no longer pending; return its body."""
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = self.get_json(status_url)
            if body.get("status") in DECIDED_STATUSES:
                return body
            time.sleep(0.1)
        raise AssertionError(
            f"comment not decided within {timeout}s (last: {body!r}); log tail:\n" + self.log_tail()
        )


def run_cli(proc: DevStackProcess, *args: str, stdin: str | None = None) -> str:
    """`replyguard <args>` against the stack's database (its working directory); its
    standard output, failing the test when the command fails."""
    env = {k: v for k, v in proc.environment().items() if k != MARKER_VAR}
    done = subprocess.run(
        [str(replyguard_executable()), *args],
        cwd=proc.workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout
