"""Read benchmark: a thread of 1,000 approved comments and the counts endpoint, beside Isso.

What it measures, in one run, for each service below and each concurrency (default 1, 8, 32):
closed-loop `GET` throughput (responses with the expected status per second), p50/p99
latency (client clock), response size and the server's CPU per request, for

- *thread*: the whole 1,000-comment listing in one response. Ours:
  `GET /api/v1/sites/demo/threads/<thread>/comments?limit=1000`; Isso: `GET /?uri=<thread>`
  (Isso returns every comment of a thread; its peer measurement is 2.8 req/s at c=8);
- *counts*: one thread's comment count. Ours: `GET /api/v1/sites/demo/counts?thread=<t>`;
  Isso: `POST /count` with `["<thread>"]`.

and, for our stacks only, at c=8 (and c=1 for the miss): a `304` revalidation (`If-None-Match`
with the current ETag), the widget's first page (`limit=50`), the full listing without
gzip (`Accept-Encoding: identity`), the counts of 20 threads at once (an article list), and
the full listing with a cache miss on every request (a distinct `after` each time: database,
rendering, gzip and the Redis write, as after each approval).

Services (each started fresh by this script on 127.0.0.1 and stopped by PID afterwards):
- `isso`: Isso 0.14 under `gunicorn -w 2`, `[guard] enabled = false` and moderation off
  (so the seeded comments are public at once; reads do not depend on it);
- `sqlite`: `replyguard run` (the `make run` stack: SQLite + embedded Redis, 2 API workers);
- `postgres`: `replyguard run` on a fresh PostgreSQL database and the system Redis (one
  database number that must be empty; flushed afterwards).

Seeding goes through each service's own submit API (1,000 POSTs at c=8; ours are then
approved by the worker, every approval invalidating the thread's cache entries). The load
generator is the shared peer harness `shared/peers/isso/loadgen.py` (aiohttp: it asks for
gzip, like every browser). Every request goes to 127.0.0.1 and every cell is bounded by
time and request count. Process control, the Isso venv, CPU accounting and the table
helpers come from bench/ingest.py.

Run (from the repository root; ~10–15 min, `--quick` ~3 min):

    .venv/bin/python bench/read.py
    .venv/bin/python bench/read.py --quick
    .venv/bin/python bench/read.py --services sqlite,isso --reps 1 --duration 4

It prints Markdown tables and writes the raw results to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/read.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ingest
from bench.ingest import (
    HOST,
    ISSO_TEXT,
    RESULTS_DIR,
    BenchError,
    CpuMeter,
    Replyguard,
    Service,
    fmt,
    med,
    spread,
)

SITE = "demo"
OUR_THREAD = "bench-read-1000"
ISSO_THREAD = "/bench/thread-1000"
SEED = 1000
LIST_THREADS = 20  # an article list's counts
REF_ISSO_THREAD_C8_RPS = 2.8  # shared/peers/isso/RESULTS.md, gunicorn -w 2
TARGET_VS_ISSO = 100.0
OURS = ("sqlite", "postgres")
TITLES = {
    "isso": "Isso 0.14 (gunicorn -w 2)",
    "sqlite": "Replyguard `make run` (SQLite + embedded Redis)",
    "postgres": "Replyguard (PostgreSQL + system Redis)",
}


@dataclass(frozen=True)
class Config:
    """Everything a run depends on; stored with the results."""

    services: tuple[str, ...]
    concurrency: tuple[int, ...]
    reps: int
    duration: float
    max_requests: int
    warmup: int
    extras: bool
    quick: bool
    ingest: ingest.Config = field(repr=False)


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 2 s cells")
    ap.add_argument("--services", default="isso,sqlite,postgres", help="comma list")
    ap.add_argument("--concurrency", default="1,8,32", help="comma list (default 1,8,32)")
    ap.add_argument("--reps", type=int, help="repetitions, services alternating (default 2)")
    ap.add_argument("--duration", type=float, help="seconds per cell (default 6; --quick 2)")
    ap.add_argument("--max-requests", type=int, default=50_000, help="per-cell request cap")
    ap.add_argument("--warmup", type=int, default=5, help="unrecorded requests per cell")
    ap.add_argument("--no-extras", action="store_true", help="skip our extra rows")
    ap.add_argument("--isso-venv", help="venv holding isso (see bench/ingest.py)")
    ap.add_argument("--peer-dir", help="shared/peers/isso (loadgen.py and isso.cfg)")
    ap.add_argument("--pg-admin-url", help="PostgreSQL maintenance database")
    ap.add_argument("--redis-url", help="empty system Redis database for the postgres stack")
    a = ap.parse_args(argv)
    services = tuple(s.strip() for s in a.services.split(",") if s.strip())
    unknown = [s for s in services if s not in TITLES]
    if unknown:
        ap.error(f"unknown service(s): {', '.join(unknown)}")
    passed = []  # the shared options, handed to bench/ingest.py's own parser
    for option in ("isso_venv", "peer_dir", "pg_admin_url", "redis_url"):
        if getattr(a, option):
            passed += [f"--{option.replace('_', '-')}", getattr(a, option)]
    base = ingest.parse_args(passed)
    return Config(
        services=services,
        concurrency=tuple(int(c) for c in a.concurrency.split(",")),
        reps=a.reps or (1 if a.quick else 2),
        duration=a.duration or (2.0 if a.quick else 6.0),
        max_requests=a.max_requests,
        warmup=a.warmup,
        extras=not a.no_extras,
        quick=a.quick,
        ingest=dataclasses.replace(base, quick=a.quick, quiet_wait=5.0 if a.quick else 30.0),
    )


class OpenIsso(ingest.Isso):
    """Isso with moderation off: seeded comments are public at once."""

    config_overrides = {
        ("guard", "enabled"): "false",
        ("moderation", "enabled"): "false",
    }


def make_service(key: str, cfg: Config, lg: Any, workdir: Path, rep: int) -> Service:
    if key == "isso":
        return OpenIsso(cfg.ingest, lg, workdir, rep)
    return Replyguard(cfg.ingest, lg, workdir, rep, key)


# ------------------------------------------------------------------------------------------
# seeding
# ------------------------------------------------------------------------------------------
def isso_post_spec() -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/new",
        "query": {"uri": ISSO_THREAD},
        "headers": {"Origin": "http://localhost", "Accept": "application/json"},
        "json": {
            "text": ISSO_TEXT,
            "author": "User {i}",
            "email": "user{i}@example.com",
            "website": "https://example.com/~u{i}",
            "title": "Bench thread",
        },
        "expect": [201, 202],
    }


def get_json(url: str, *, data: bytes | None = None) -> Any:
    assert url.startswith(f"http://{HOST}:")
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def visible_count(svc: Service) -> int:
    if svc.key == "isso":
        body = json.dumps([ISSO_THREAD]).encode()
        return int(get_json(f"{svc.base_url}/count", data=body)[0])
    counts = get_json(f"{svc.base_url}/api/v1/sites/{SITE}/counts?thread={OUR_THREAD}")
    return int(counts["counts"][OUR_THREAD])


async def seed(lg: Any, session: Any, svc: Service) -> dict[str, Any]:
    """1,000 comments through the service's own API, then wait until all are public."""
    t0 = time.perf_counter()
    if svc.key == "isso":
        spec = isso_post_spec()
    else:
        spec = ingest.our_post_spec(svc.port)
        spec["json"] = {**spec["json"], "thread": OUR_THREAD}
    ep = lg.Endpoint("seed", spec, svc.base_url, {})
    cell = await lg.run_cell(
        session, ep, 8, duration=300, max_requests=SEED, req_timeout=60.0, label="seed"
    )
    for _ in range(200):  # top up (bounded) what failed
        if sum(n for code, n in cell["statuses"].items() if code.startswith("2")) >= SEED:
            break
        status, _lat, _body = await lg.do_request(session, ep, lg.make_ctx({}), 30.0)
        if str(status).startswith("2"):
            cell["statuses"]["2xx-topup"] = cell["statuses"].get("2xx-topup", 0) + 1
    deadline = time.monotonic() + 180
    visible = visible_count(svc)
    while visible < SEED and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        visible = visible_count(svc)
    if visible < SEED:
        raise BenchError(f"{svc.key}: only {visible} of {SEED} seeded comments became public")
    return {"seconds": round(time.perf_counter() - t0, 1), "visible": visible}


# ------------------------------------------------------------------------------------------
# cells
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One row kind: what is requested, at which concurrencies, with which answer."""

    name: str
    label: str
    spec: dict[str, Any]
    concurrency: tuple[int, ...]


def our_cells(cfg: Config, svc: Service) -> list[Cell]:
    listing = f"/api/v1/sites/{SITE}/threads/{OUR_THREAD}/comments"
    counts = f"/api/v1/sites/{SITE}/counts"
    full = {"method": "GET", "path": listing, "query": {"limit": "1000"}, "expect": [200]}
    cells = [
        Cell("thread", "thread, 1,000 comments", full, cfg.concurrency),
        Cell(
            "counts",
            "counts, 1 thread",
            {"method": "GET", "path": counts, "query": {"thread": OUR_THREAD}, "expect": [200]},
            cfg.concurrency,
        ),
    ]
    if not cfg.extras:
        return cells
    etag = current_etag(svc.base_url + listing + "?limit=1000")
    many = "&".join(f"thread={OUR_THREAD if n == 0 else f'bench-other-{n}'}" for n in range(20))
    cells += [
        Cell(
            "revalidate",
            "thread, revalidation → 304",
            {**full, "headers": {"If-None-Match": etag}, "expect": [304]},
            (8,),
        ),
        Cell(
            "page50",
            "thread, widget's first page (limit=50)",
            {**full, "query": {"limit": "50"}},
            (8,),
        ),
        Cell(
            "identity",
            "thread, 1,000 comments, no gzip",
            {**full, "headers": {"Accept-Encoding": "identity"}},
            (8,),
        ),
        Cell(
            "counts20",
            f"counts, {LIST_THREADS} threads (an article list)",
            {"method": "GET", "path": f"{counts}?{many}", "expect": [200]},
            (8,),
        ),
        Cell(
            "miss",
            "thread, 1,000 comments, cache miss every request",
            {**full, "query": {"limit": "1000", "after": "-{i}"}},
            (1, 8),
        ),
    ]
    return cells


def isso_cells(cfg: Config) -> list[Cell]:
    return [
        Cell(
            "thread",
            "thread, 1,000 comments",
            {"method": "GET", "path": "/", "query": {"uri": ISSO_THREAD}, "expect": [200]},
            cfg.concurrency,
        ),
        Cell(
            "counts",
            "counts, 1 thread",
            {"method": "POST", "path": "/count", "json": [ISSO_THREAD], "expect": [200]},
            cfg.concurrency,
        ),
    ]


def current_etag(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        etag: str = response.headers["ETag"]
    return etag


def wire_sizes(svc: Service) -> dict[str, int]:
    """Bytes on the wire for the full listing, gzipped (when served so) and not."""
    if svc.key == "isso":
        url = f"{svc.base_url}/?uri={ISSO_THREAD}"
    else:
        url = f"{svc.base_url}/api/v1/sites/{SITE}/threads/{OUR_THREAD}/comments?limit=1000"
    sizes = {}
    for encoding in ("gzip", "identity"):
        request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
        with urllib.request.urlopen(request, timeout=60) as response:
            sizes[encoding] = len(response.read())
    return sizes


async def measure(cfg: Config, lg: Any, svc: Service) -> dict[str, Any]:
    """Start one service, seed it, run its cells, stop it."""
    result: dict[str, Any] = {"service": svc.key, "rep": svc.rep, "cells": []}
    result["busy_before_pct"] = ingest.wait_for_quiet(cfg.ingest, lg)
    try:
        svc.start()
        async with lg.session_for(True) as session:
            result["seed"] = await seed(lg, session, svc)
            result["wire_bytes"] = wire_sizes(svc)
            print(f"  r{svc.rep} seeded: {result['seed']}, wire {result['wire_bytes']}", flush=True)
            cells = isso_cells(cfg) if svc.key == "isso" else our_cells(cfg, svc)
            for kind in cells:
                ep = lg.Endpoint(kind.name, kind.spec, svc.base_url, {})
                for c in kind.concurrency:
                    meter = CpuMeter(lg, svc)
                    cell: dict[str, Any] = await lg.run_cell(
                        session,
                        ep,
                        c,
                        duration=cfg.duration,
                        max_requests=cfg.max_requests,
                        warmup=cfg.warmup,
                        req_timeout=120.0,
                        watch_pids=svc.watch_pids(),
                        label=f"{svc.key} {kind.name}",
                    )
                    cpu = meter.read()
                    answered = max(1, sum(cell["statuses"].values()))
                    stack_s = sum(v for k, v in cpu.items() if k != "wall")
                    cell.update(
                        service=svc.key,
                        rep=svc.rep,
                        kind=kind.name,
                        kind_label=kind.label,
                        cpu_s=cpu,
                        cpu_ms_per_req=round(1000 * stack_s / answered, 3),
                        stack_cpu_pct=round(100 * stack_s / max(cpu["wall"], 1e-9), 1),
                    )
                    cell["noise_cpu_pct"] = round(
                        cell["machine_busy_pct"] - cell["client_cpu_pct"] - cell["stack_cpu_pct"],
                        1,
                    )
                    print(f"  r{svc.rep} {kind.name:<10} {lg.format_row(cell)}", flush=True)
                    result["cells"].append(cell)
    finally:
        svc.stop()
    return result


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------
def cells_of(runs: list[dict[str, Any]], service: str, kind: str, c: int) -> list[dict[str, Any]]:
    return [
        cell
        for run in runs
        if run["service"] == service
        for cell in run["cells"]
        if cell["kind"] == kind and cell["concurrency"] == c
    ]


def ratio_per_rep(runs: list[dict[str, Any]], ours: str, kind: str, c: int) -> list[float]:
    out = []
    for rep in sorted({run["rep"] for run in runs}):
        a = [x["ok_rps"] for x in cells_of(runs, ours, kind, c) if x["rep"] == rep]
        b = [x["ok_rps"] for x in cells_of(runs, "isso", kind, c) if x["rep"] == rep]
        if a and b and b[0]:
            out.append(a[0] / b[0])
    return out


def non_expected(cells: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for cell in cells:
        for code, n in cell["statuses"].items():
            if code not in {"200", "304"}:
                counts[code] = counts.get(code, 0) + n
    return ", ".join(f"{code} ×{n}" for code, n in sorted(counts.items())) or "0"


def markdown(cfg: Config, runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    reps = f"median of {cfg.reps} reps (min–max)" if cfg.reps > 1 else "1 rep"
    out = [
        f"### Public reads — {reps}, {cfg.duration:g} s cells, {meta['cpu_count']} CPUs",
        "",
        "req/s counts answers with the expected status (200, or 304 for the revalidation "
        "row). *KB* is the decoded body; *CPU ms/req* is the whole service's CPU per answer "
        "(our API, Redis, PostgreSQL backends); *noise* is what other tenants used, in % of "
        "one core.",
        "",
        "| service | request | c | req/s | p50 ms | p99 ms | n | KB | CPU ms/req | noise % "
        "| other answers |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    kinds: list[tuple[str, str]] = []
    for run in runs:
        for cell in run["cells"]:
            if (cell["kind"], cell["kind_label"]) not in kinds:
                kinds.append((cell["kind"], cell["kind_label"]))
    for service in cfg.services:
        for kind, label in kinds:
            for c in sorted({cell["concurrency"] for run in runs for cell in run["cells"]}):
                cells = cells_of(runs, service, kind, c)
                if not cells:
                    continue
                out.append(
                    f"| {TITLES[service]} | {label} | {c} "
                    f"| {spread([x['ok_rps'] for x in cells])} "
                    f"| {spread([x['p50_ms'] for x in cells])} "
                    f"| {spread([x['p99_ms'] for x in cells])} "
                    f"| {fmt(med(x['requests'] for x in cells), 0)} "
                    f"| {fmt(med(x['avg_resp_bytes'] / 1024 for x in cells), 0)} "
                    f"| {fmt(med(x['cpu_ms_per_req'] for x in cells), 2)} "
                    f"| {fmt(med(x['noise_cpu_pct'] for x in cells), 0)} "
                    f"| {non_expected(cells)} |"
                )
    wire = {
        run["service"]: run["wire_bytes"] for run in runs if "wire_bytes" in run
    }  # last rep's sizes (they do not change between reps)
    if wire:
        out += [
            "",
            "Full listing on the wire: "
            + "; ".join(
                f"{TITLES[s]}: {w['gzip'] / 1024:,.0f} KB asked for gzip, "
                f"{w['identity'] / 1024:,.0f} KB without"
                for s, w in wire.items()
            ),
        ]
    if "isso" in cfg.services:
        out += [
            "",
            f"### Ratios to Isso (median of per-rep ratios; target ≥ {TARGET_VS_ISSO:g}× on "
            f"the thread listing; Isso's peer figure: {REF_ISSO_THREAD_C8_RPS} req/s at c=8)",
            "",
            "| stack | request | c | ours / Isso |",
            "|---|---|---:|---:|",
        ]
        for ours in (s for s in OURS if s in cfg.services):
            for kind, label in (("thread", "thread, 1,000 comments"), ("counts", "counts")):
                for c in cfg.concurrency:
                    ratios = ratio_per_rep(runs, ours, kind, c)
                    if ratios:
                        out.append(
                            f"| {TITLES[ours]} | {label} | {c} "
                            f"| {statistics.median(ratios):,.0f}× |"
                        )
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------
def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # run the finally blocks: every started process is stopped


async def amain(cfg: Config, lg: Any, workdir: Path, runs: list[Any], errors: list[str]) -> None:
    services = list(cfg.services)
    for rep in range(1, cfg.reps + 1):
        shift = (rep - 1) % len(services)
        for key in services[shift:] + services[:shift]:  # alternate who goes first
            print(f"== rep {rep}/{cfg.reps}: {TITLES[key]}", flush=True)
            svc = make_service(key, cfg, lg, workdir, rep)
            try:
                runs.append(await measure(cfg, lg, svc))
            except BenchError as exc:
                errors.append(f"rep {rep} {key}: {exc}")
                print(f"  ERROR: {exc} (logs in {svc.dir})", flush=True)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    lg = ingest.load_loadgen(cfg.ingest.peer_dir)
    signal.signal(signal.SIGTERM, _terminate)
    if "postgres" in cfg.services:
        ingest.check_redis_db_empty(cfg.ingest.redis_url)
    if "isso" in cfg.services:
        ingest.ensure_isso_venv(Path(cfg.ingest.isso_venv))
    workdir = Path(tempfile.mkdtemp(prefix="replyguard-read-bench-"))
    started = dt.datetime.now(dt.UTC)
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "git_commit": ingest.git_commit(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "versions": ingest.versions(cfg.ingest),
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "ingest"},
        "references": {"isso_thread_c8_rps": REF_ISSO_THREAD_C8_RPS},
    }
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    interrupted = False
    try:
        asyncio.run(amain(cfg, lg, workdir, runs, errors))
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: every started process has been stopped", flush=True)
    meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    meta["interrupted"] = interrupted
    table = markdown(cfg, runs, meta)
    print()
    print(table)
    if errors:
        print("\nErrors:\n- " + "\n- ".join(errors))
    RESULTS_DIR.mkdir(exist_ok=True)
    suffix = "-quick" if cfg.quick else ""
    out = RESULTS_DIR / f"read-{started.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
    out.write_text(
        json.dumps(
            {"meta": meta, "runs": runs, "errors": errors, "markdown": table},
            indent=1,
            default=str,
        )
    )
    print(f"\nraw results: {out}  (elapsed {meta['elapsed_s']} s)")
    if errors or interrupted:
        print(f"logs kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
