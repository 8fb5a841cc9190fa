"""A live Replyguard stack as real subprocesses, for integration tests.

`LiveStack` starts gunicorn serving `api:create_app()` on a free 127.0.0.1 port, one Celery
worker and (optionally) Celery beat, all against the database and broker URLs it is given,
with the `REPLYGUARD_*` environment set from a `Settings` that carries freshly generated
keys. Every process writes its output to its own file in a work directory, so tests can
read (and search) the logs. `RedisServer` runs a private redis-server on a free port, for
tests that stop and restart the broker (the shared instance on 6379 is never touched).

Everything is stopped by PID: SIGTERM, a bounded wait, then SIGKILL. Children are started
in their own session, and the leader is not reaped until any process left in its group
(gunicorn workers, Celery pool children) has been killed too, so its id cannot have been
reused by then.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from cli.devstack import api_argv, beat_argv, webhook_worker_argv, worker_argv
from core.config import Settings
from core.privacy import new_key_material
from tests.support.polling import wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 15.0
START_TIMEOUT_SECONDS = 30.0
# The same access-log format as `replyguard run` (cli/devstack.py): no %(h)s, because
# with ProxyFix the address gunicorn would log is the client's, taken from X-Forwarded-For.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def stack_settings(
    database_url: str, broker_url: str, instance_path: Path, **overrides: object
) -> Settings:
    """Settings for a live stack: env "test", fresh random keys, one trusted proxy hop."""
    base = Settings(
        env="test",
        database_url=database_url,
        broker_url=broker_url,
        secret_key=new_key_material(),
        email_keys=f"it1:{new_key_material()}",
        index_key=new_key_material(),
        instance_path=str(instance_path),
        proxy_hops=1,
        log_level="INFO",
    )
    return base.with_overrides(**overrides)


def settings_env(settings: Settings) -> dict[str, str]:
    """The `REPLYGUARD_*` variables that make `Settings.from_env()` equal `settings`."""
    values = {
        "env": settings.env,
        "database_url": settings.database_url,
        "broker_url": settings.broker_url,
        "secret_key": settings.secret_key,
        "email_keys": settings.email_keys,
        "index_key": settings.index_key,
        "instance_path": settings.instance_path,
        "proxy_hops": settings.proxy_hops,
        "flood_seconds": settings.flood_seconds,
        "sweep_interval_seconds": settings.sweep_interval_seconds,
        "stale_after_seconds": settings.stale_after_seconds,
        "max_attempts": settings.max_attempts,
        "broker_timeout_seconds": settings.broker_timeout_seconds,
        "log_level": settings.log_level,
        "webhooks_allow_loopback": int(settings.webhooks_allow_loopback),
        "webhook_poll_seconds": settings.webhook_poll_seconds,
        "webhook_max_in_flight": settings.webhook_max_in_flight,
        "webhook_timeout_seconds": settings.webhook_timeout_seconds,
    }
    return {f"REPLYGUARD_{name.upper()}": str(value) for name, value in values.items()}


def _has_exited(pid: int) -> bool:
    """True once `pid` (our child) has exited, WITHOUT reaping it (WNOWAIT), so its id
    stays reserved until we are done with its process group."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped
        return True
    return info is not None


@dataclass
class ManagedProcess:
    """One subprocess we own: leader of its own session, output captured to `log_path`."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str]
    cwd: Path = PROJECT_ROOT
    popen: subprocess.Popen[bytes] | None = None
    _terminated: bool = field(default=False, repr=False)
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._log_file = self.log_path.open("ab")
        self._terminated = False
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we can stop all it started
        )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return (
            self.popen is not None
            and self.popen.returncode is None
            and not _has_exited(self.popen.pid)
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self) -> None:
        """Send SIGTERM (warm shutdown) once, without waiting; `stop()` finishes the job."""
        popen = self.popen
        if popen is None or self._terminated or popen.returncode is not None:
            return
        self._terminated = True
        if not _has_exited(popen.pid):
            with suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM, wait up to `timeout`, SIGKILL; then kill what is left in its group and
        reap it. Returns the exit code (None if it was never started)."""
        popen = self.popen
        if popen is None:
            return None
        if popen.returncode is None:
            pid = popen.pid
            self.terminate()
            deadline = time.monotonic() + timeout
            while not _has_exited(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _has_exited(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # The leader is a zombie (not reaped), so `pid` still names our group.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            popen.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return popen.returncode


def _python() -> str:
    return sys.executable


class LiveStack:
    """gunicorn + one Celery worker (+ beat) against `settings`, in `workdir`.

    Use as a context manager, or call `start()` and then always `stop()`.
    """

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        beat: bool = False,
        webhooks: bool = False,
        web_workers: int = 2,
        concurrency: int = 1,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.worker_name = f"it-{os.urandom(4).hex()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYGUARD_")}
        env.update(settings_env(settings))
        env.update(PYTHONUNBUFFERED="1", PORT=str(self.port))
        self.env = env
        python = _python()
        # The same commands `make run` uses; only the log destinations differ.
        api_command = api_argv(python, bind=f"{LOOPBACK}:{self.port}", workers=web_workers)
        self.api = ManagedProcess(
            "api",
            [
                *api_command[:-1],
                *("--access-logfile", str(workdir / "api-access.log")),
                *("--error-logfile", "-", "--graceful-timeout", "5"),
                api_command[-1],
            ],
            workdir / "api.log",
            env,
        )
        self.worker = ManagedProcess(
            "worker",
            worker_argv(python, concurrency=concurrency, hostname=f"{self.worker_name}@%h"),
            workdir / "worker.log",
            env,
        )
        # The webhook worker (queue `webhooks`), as `make run` and compose run it.
        self.webhooks: ManagedProcess | None = None
        if webhooks:
            self.webhooks = ManagedProcess(
                "webhooks",
                webhook_worker_argv(
                    python, concurrency=4, hostname=f"{self.worker_name}-webhooks@%h"
                ),
                workdir / "webhooks.log",
                env,
            )
        self.beat: ManagedProcess | None = None
        if beat:
            self.beat = ManagedProcess(
                "beat",
                beat_argv(python, schedule=workdir / "beat-schedule"),
                workdir / "beat.log",
                env,
            )

    @property
    def processes(self) -> list[ManagedProcess]:
        return [p for p in (self.api, self.worker, self.webhooks, self.beat) if p is not None]

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> Self:
        """Start every process; return once /healthz answers 200 and the worker is ready."""
        try:
            for process in self.processes:
                process.start()
            wait_for(self._healthy, timeout=timeout, interval=0.2, what="the API's /healthz")
            self.wait_worker_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_worker_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Wait for the workers' "ready." lines (they are consuming their queues)."""

        def ready() -> bool:
            self._require_running()
            workers = [p for p in (self.worker, self.webhooks) if p is not None]
            return all(" ready." in p.log_text() for p in workers)

        wait_for(ready, timeout=timeout, interval=0.2, what="the Celery worker's 'ready.'")

    def stop(self) -> dict[str, int | None]:
        """Stop everything by PID: SIGTERM to all at once (each shuts down warm, in
        parallel), then wait for / kill each in turn. Returns the exit codes."""
        for process in self.processes:
            process.terminate()
        return {process.name: process.stop() for process in self.processes}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- inspection ----------------------------------------------------------------------
    def _require_running(self) -> None:
        for process in self.processes:
            if not process.running():
                raise AssertionError(
                    f"{process.name} exited early; its log ({process.log_path}):\n"
                    + process.log_text()[-4000:]
                )

    def _healthy(self) -> bool:
        self._require_running()
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                return bool(response.status == 200 and json.load(response)["status"] == "ok")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def log_files(self) -> list[Path]:
        """Every file the processes wrote in the work directory (logs, access log)."""
        return sorted(p for p in self.workdir.iterdir() if p.suffix == ".log")

    def logs(self) -> dict[str, str]:
        """File name -> text, for every captured log."""
        return {p.name: p.read_text(errors="replace") for p in self.log_files()}

    def wait_for_log(
        self, process: ManagedProcess, pattern: str, *, timeout: float, count: int = 1
    ) -> list[str]:
        """Wait until `pattern` (a regex) matches `count` times in the process's log."""

        def matched() -> list[str] | None:
            found = re.findall(pattern, process.log_text())
            return found if len(found) >= count else None

        return wait_for(
            matched,
            timeout=timeout,
            interval=0.1,
            what=f"{pattern!r} x{count} in {process.log_path.name}",
        )


class RedisServer:
    """A private redis-server on 127.0.0.1:`port`, no persistence; stop/start at will."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self, timeout: float = 10.0) -> Self:
        if self.process is not None and self.process.running():
            return self
        self.starts += 1
        self.process = ManagedProcess(
            f"redis-{self.starts}",
            [
                "redis-server",
                "--bind",
                LOOPBACK,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            self.workdir / f"redis-{self.starts}.log",
            dict(os.environ),
            cwd=self.workdir,
        )
        self.process.start()
        wait_for(
            self.ping, timeout=timeout, interval=0.05, what=f"redis-server on port {self.port}"
        )
        return self

    def ping(self) -> bool:
        if self.process is None or not self.process.running():
            raise AssertionError(f"redis-server exited: {self.process and self.process.log_text()}")
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisMonitor(threading.Thread):
    """Records every command Redis runs on one db (MONITOR), as unescaped argument lists.

    Reads the MONITOR stream on a raw socket with a short timeout, so `stop()` returns
    promptly; only commands for `db` are kept.
    """

    _LINE = re.compile(r"^\+(?P<ts>[\d.]+) \[(?P<db>\d+) [^\]]*\] (?P<args>.*)$")
    _ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')

    def __init__(self, host: str, port: int, db: int) -> None:
        super().__init__(name="redis-monitor", daemon=True)
        self.host, self.port, self.db = host, port, db
        self.commands: list[list[str]] = []
        self._stop_event = threading.Event()
        self._started_ok = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2) as sock:
                sock.sendall(b"MONITOR\r\n")
                buffer = b""
                while not self._stop_event.is_set():
                    try:
                        chunk = sock.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\r\n")
                    for line in lines:
                        if line == b"+OK":
                            self._started_ok.set()
                            continue
                        self._record(line.decode("ascii", errors="replace"))
        except BaseException as exc:
            self.error = exc
            self._started_ok.set()

    def _record(self, line: str) -> None:
        match = self._LINE.match(line)
        if match is None or int(match["db"]) != self.db:
            return
        self.commands.append([_unescape_redis(a) for a in self._ARG.findall(match["args"])])

    def begin(self, timeout: float = 5.0) -> Self:
        self.start()
        if not self._started_ok.wait(timeout) or self.error is not None:
            raise AssertionError(f"MONITOR did not start: {self.error!r}")
        return self

    def stop(self) -> list[list[str]]:
        self._stop_event.set()
        self.join(timeout=5)
        return self.commands


_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}


def _unescape_redis(text: str) -> str:
    """Undo redis's sdscatrepr quoting (\\n, \\", \\xHH...) of one MONITOR argument."""
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and i + 3 < len(text):
                raw.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            raw.extend(_SIMPLE_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        raw.extend(ch.encode())
        i += 1
    return raw.decode("utf-8", errors="replace")
