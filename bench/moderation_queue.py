"""Queue benchmark: the moderation queue and the comment detail on 1,000,000 comments.

The requirement (issue): with 1,000,000 comments in PostgreSQL, the queue listing and the
comment detail stay under 50 ms at p99; report the numbers and the query plans' index use.

Contract
--------
1. Database. Creates a fresh database `replyguard_bench_queue_<hex>` through
   `--pg-admin-url`, migrates it with `models.migrate.upgrade` (the real schema and
   indexes), and drops it at the end, also on an error, Ctrl-C or SIGTERM, unless
   `--keep-db` (then its URL is printed; `--reuse-db URL` measures such a database again
   without regenerating it).
2. Data, generated server-side (`INSERT ... SELECT ... FROM generate_series`, plus one COPY
   of the author pool), never through ORM objects; `--comments` (default 1,000,000;
   `--quick` 100,000):
   - 3 sites: `bench-big` (~90 % of the comments), `bench-mid` (~6 %), `bench-small` (~4 %);
     `--threads` threads (default comments / 50, i.e. 20,000), 90 / 5 / 5 % per site, sizes
     skewed (the hottest article of the big site has a few thousand comments);
   - statuses: approved 80 %, spam 10 %, rejected 3 %, held 5 %, pending 0.5 %, deleted 1.5 %;
   - `--authors` authors (default comments / 5), comments per author skewed (the heaviest
     has ~0.2 % of all comments, the median a handful). Every author has a real address,
     encrypted with a PrivacyVault built from freshly generated keys, and its real blind
     index, so that every row decrypts (the AEAD binds the ciphertext to its index);
   - ~20 % of the comments reply to the previous comment of their thread (`parent_id`);
   - one pipeline Decision per non-pending comment with a CheckResult per check of
     `core.checks.pipeline.default_checks()` (the last 0-2 missing when none objected, as
     for older comments; all of them when one objected: `hold`/`spam`, with spans for the
     word checks), a second moderator Decision and an audit row for rejected and deleted
     comments, 80 author marks;
   - ids ascend with `submitted_at` (one year), in heap order, as an append-only table has.
   To load fast, foreign-key triggers are off during the load (`session_replication_role =
   replica`: the rows are consistent by construction) and the secondary indexes of
   comments, decisions and check_results are dropped and re-created from their exact
   definitions (`pg_get_indexdef`) afterwards; then `VACUUM (ANALYZE)` (what autovacuum
   does after a bulk insert) and a CHECKPOINT. The generation time is reported per step.
3. Timing, in process: direct calls to `core.queue.list_queue`, `status_counts` and
   `comment_detail` on the big site through a real Session of `models.db.make_engine` (the
   API's engine options), one new Session per call as a request has; `--warmup` calls, then
   `--iterations` (default 300, at most `--case-budget` seconds per case); p50 / p95 / p99
   (nearest rank) and max, against the 50 ms target. Per case also: CPython's full
   (generation-2) collections during the timed calls and their longest pause, and the CPU
   the rest of the shared machine used (noise); before each case the bench waits (at most
   `--quiet-wait` s) for the machine to be calmer than `--quiet-threshold` %.
   `--gc-freeze` calls `gc.freeze()` before timing (and in each gunicorn worker once the
   app is loaded), to show the latency without full-GC pauses over the startup objects.
4. Plans: the SQL each case emits is captured (`before_cursor_execute`) and run again under
   `EXPLAIN (ANALYZE, BUFFERS)` with the same parameters; for each query the scans (Index
   Scan / Index Only Scan / Bitmap / Seq Scan, index names), the rows removed by filters,
   the buffers and the execution time are tabulated, Seq Scans on big tables flagged, and
   the full plan printed for every flagged query.
5. `--http`: the same kind of calls through the real API under gunicorn
   (`GET /api/v1/sites/bench-big/moderation/queue?status=held`, the same with a deep
   cursor, and `.../moderation/comments/<id>`, one client, an admin API token); an answer
   other than 200 (404: the route is missing) is reported instead of timed.
6. Output: Markdown tables on stdout and the raw results (every sample, every plan) in
   `bench/results/queue-<UTC time>.json` (git-ignored). Exit code 0 when the run
   completed (whatever the numbers), 1 on an error or an interrupt.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres):

    .venv/bin/python bench/moderation_queue.py            # 1,000,000 comments (~5-10 min)
    .venv/bin/python bench/moderation_queue.py --quick    # 100,000 comments, 100 iterations
    .venv/bin/python bench/moderation_queue.py --http     # also through gunicorn
    .venv/bin/python bench/moderation_queue.py --http --gc-freeze
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import http.client
import importlib.metadata
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if __package__ in (None, ""):  # `python bench/<script>.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import free_port, git_commit, nearest_rank
from core.accounts import create_token
from core.checks.pipeline import default_checks
from core.config import Settings
from core.privacy import PrivacyVault, new_key_material
from core.queue import QueueFilter, comment_detail, list_queue, status_counts
from models import CommentStatus, Role, Site
from models.db import make_engine, make_sessionmaker
from models.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DB_PREFIX = "replyguard_bench_queue"
TARGET_P99_MS = 50.0
DEFAULT_COMMENTS = 1_000_000
QUICK_COMMENTS = 100_000
KEY_ID = "bench1"

# (key, name, share of the comments, share of the threads)
SITES = (
    ("bench-big", "Big newsroom", 0.90, 0.90),
    ("bench-mid", "Mid newsroom", 0.06, 0.05),
    ("bench-small", "Small newsroom", 0.04, 0.05),
)
# In the order of the CASE in ROWS_SQL.
STATUS_SHARES = (
    ("approved", 0.80),
    ("spam", 0.10),
    ("rejected", 0.03),
    ("held", 0.05),
    ("pending", 0.005),
    ("deleted", 0.015),
)
REPLY_SHARE = 0.2
FIRST_NAMES = (  # noqa: SIM905  (a tuple literal would take 40 lines)
    "Ada Ben Chloe Dmitri Elena Farid Greta Hugo Ingrid Jonas Keiko Luca Maya Nils Olga "
    "Pablo Quentin Rosa Samir Tanja Ulrich Vera Walter Xenia Yusuf Zoe Amir Bianca Carlos "
    "Dana Emil Fatima Gustav Hanna Ivan Julia Karim Lena Marco Nora"
).split()
LAST_NAMES = (  # noqa: SIM905  (a tuple literal would take 40 lines)
    "Adams Berger Costa Dubois Eriksen Fischer Garcia Huber Ivanova Jansen Kowalski Lopez "
    "Meyer Novak Olsen Petrov Quinn Rossi Schmidt Tanaka Ullmann Vogel Weber Xu Yilmaz "
    "Zimmermann Andersen Bauer Conti Dietrich Esposito Fontaine Gruber Hansen Ito "
    "Jovanovic Keller Lindqvist Moreau Nakamura"
).split()
DOMAINS = ("example.com", "mail.example.org", "post.example.net", "inbox.example.de")
COMMON_AUTHOR_TERM = "ingrid"  # one first name of 40: ~2.5 % of the comments
MISSING_AUTHOR_TERM = "zebulon"  # no author has it: the search reads the whole held list
COMMON_CHECK = "moderation_words"  # objected to ~55 % of the held comments
MISSING_CHECK = "author_banned"  # objects only to spam: no held comment matches
# The checks ROWS_SQL makes object (the others are recorded without an opinion).
OBJECTORS = ("author_banned", "disallowed_words", "moderation_words", "max_links", "premoderation")
BIG_TABLES = ("comments", "decisions", "check_results", "audit_log")


class BenchError(Exception):
    """The benchmark cannot go on."""


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Everything a run depends on; stored with the results."""

    comments: int
    threads: int
    authors: int
    iterations: int
    warmup: int
    case_budget: float
    seed: float
    pg_admin_url: str
    keep_db: bool
    reuse_db: str | None
    http: bool
    http_workers: int
    redis_url: str
    quick: bool
    gc_freeze: bool
    quiet_threshold: float
    quiet_wait: float


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="100,000 comments, 100 iterations")
    ap.add_argument("--comments", type=int, help=f"comments to generate ({DEFAULT_COMMENTS:,})")
    ap.add_argument("--threads", type=int, help="threads to generate (default comments / 50)")
    ap.add_argument("--authors", type=int, help="distinct authors (default comments / 5)")
    ap.add_argument("--iterations", type=int, help="timed calls per case (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed calls per case first")
    ap.add_argument(
        "--case-budget", type=float, default=60.0, help="max seconds of timed calls per case"
    )
    ap.add_argument("--seed", type=float, default=0.42, help="setseed() for the generation")
    ap.add_argument(
        "--pg-admin-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL maintenance database (the bench creates and drops its own)",
    )
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database")
    ap.add_argument(
        "--reuse-db",
        metavar="URL",
        help="measure a database kept by an earlier --keep-db run instead of generating one",
    )
    ap.add_argument("--http", action="store_true", help="also measure through gunicorn")
    ap.add_argument(
        "--quiet-threshold",
        type=float,
        default=30.0,
        help="before each case, wait until the machine is less busy than this %% (30)",
    )
    ap.add_argument(
        "--quiet-wait", type=float, help="max seconds of that wait per case (30; --quick 5)"
    )
    ap.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() before timing (and in each gunicorn worker once the app is "
        "loaded): no full-GC pauses over the startup objects",
    )
    ap.add_argument("--http-workers", type=int, default=2, help="gunicorn --workers")
    ap.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/9", help="broker URL for the API"
    )
    a = ap.parse_args(argv)
    comments = a.comments or (QUICK_COMMENTS if a.quick else DEFAULT_COMMENTS)
    if comments < 10_000:
        ap.error("--comments: at least 10,000")
    return Config(
        comments=comments,
        threads=a.threads or max(100, comments // 50),
        authors=a.authors or max(1_000, comments // 5),
        iterations=a.iterations or (100 if a.quick else 300),
        warmup=a.warmup,
        case_budget=a.case_budget,
        seed=a.seed,
        pg_admin_url=a.pg_admin_url,
        keep_db=a.keep_db or a.reuse_db is not None,
        reuse_db=a.reuse_db,
        http=a.http,
        http_workers=a.http_workers,
        redis_url=a.redis_url,
        quick=a.quick,
        gc_freeze=a.gc_freeze,
        quiet_threshold=a.quiet_threshold,
        quiet_wait=a.quiet_wait if a.quiet_wait is not None else (5.0 if a.quick else 30.0),
    )


# ------------------------------------------------------------------------------------------
# database lifecycle
# ------------------------------------------------------------------------------------------
def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq (psycopg.connect) takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str) -> str:
    name = f"{DB_PREFIX}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    if not name or not name.startswith(DB_PREFIX):
        raise BenchError(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def gen_connect(url: str) -> psycopg.Connection[Any]:
    """A connection for generation and EXPLAIN: autocommit, parameters bound client-side
    (utility statements such as CREATE TABLE AS take no server-side parameters)."""
    conn: psycopg.Connection[Any] = psycopg.connect(
        libpq_url(url), autocommit=True, cursor_factory=psycopg.ClientCursor
    )
    return conn


# ------------------------------------------------------------------------------------------
# data generation
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Keys:
    email_keys: str
    index_key: str

    def settings(self) -> Settings:
        return Settings(email_keys=self.email_keys, index_key=self.index_key)


def author_name(n: int) -> str:
    return f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[(n // len(FIRST_NAMES)) % 40]}"


def author_email(n: int) -> str:
    first, last = author_name(n).lower().split()
    return f"{first}.{last}{n}@{DOMAINS[n % len(DOMAINS)]}"


SITES_SQL = """
INSERT INTO sites (id, key, name, allowed_origins, policy, created_at)
SELECT i, k, n, json_build_array('https://' || k || '.example'), '{}'::json,
       now() - interval '2 years'
FROM unnest(%(ids)s::int[], %(keys)s::text[], %(names)s::text[]) AS s(i, k, n)
"""

THREADS_SQL = """
INSERT INTO threads (id, site_id, key, url, title, closed, premoderated, created_at)
SELECT t,
       CASE WHEN t <= %(t1)s THEN 1 WHEN t <= %(t1)s + %(t2)s THEN 2 ELSE 3 END,
       'article-' || t, 'https://news.example/a/' || t, 'Article number ' || t,
       mod(t, 50) = 0, mod(t, 97) = 0, now() - interval '400 days'
FROM generate_series(1, %(threads)s) AS t
"""

AUTHORS_TABLE_SQL = """
CREATE UNLOGGED TABLE bench_authors (
    n int PRIMARY KEY, name text NOT NULL, ciphertext bytea NOT NULL,
    key_id text NOT NULL, email_index bytea NOT NULL)
"""

# One narrow row per comment: site, thread, author, status and the check that objected,
# from independent random draws; parent = the previous comment of the thread for ~20 %.
ROWS_SQL = """
CREATE UNLOGGED TABLE bench_rows AS
SELECT g, site_id, thread_id, author_n, status, objector,
       CASE WHEN r_reply < %(reply_share)s
            THEN lag(g) OVER (PARTITION BY thread_id ORDER BY g) END AS parent_id
FROM (
    SELECT g, site_id,
           CASE site_id WHEN 1 THEN 0 WHEN 2 THEN %(t1)s ELSE %(t1)s + %(t2)s END + 1
             + floor(power(r_thread, 2)
                     * CASE site_id WHEN 1 THEN %(t1)s WHEN 2 THEN %(t2)s ELSE %(t3)s END
               )::int AS thread_id,
           floor(power(r_author, 2) * %(authors)s)::int AS author_n,
           status,
           CASE WHEN status IN ('approved', 'pending') THEN NULL
                WHEN status = 'spam' THEN
                  CASE WHEN r_check < 0.7 THEN 'disallowed_words' ELSE 'author_banned' END
                WHEN r_check < 0.55 THEN 'moderation_words'
                WHEN r_check < 0.90 THEN 'max_links'
                ELSE 'premoderation' END AS objector,
           r_reply
    FROM (
        SELECT g, r_thread, r_author, r_check, r_reply,
               CASE WHEN r_site < %(s1)s THEN 1 WHEN r_site < %(s2)s THEN 2 ELSE 3 END
                 AS site_id,
               CASE WHEN r_status < %(c1)s THEN 'approved'
                    WHEN r_status < %(c2)s THEN 'spam'
                    WHEN r_status < %(c3)s THEN 'rejected'
                    WHEN r_status < %(c4)s THEN 'held'
                    WHEN r_status < %(c5)s THEN 'pending'
                    ELSE 'deleted' END AS status
        FROM (
            SELECT g, random() AS r_site, random() AS r_thread, random() AS r_author,
                   random() AS r_status, random() AS r_check, random() AS r_reply
            FROM generate_series(1, %(n)s) AS g
            OFFSET 0
        ) AS draws
        OFFSET 0
    ) AS drawn
) AS rows
"""

# submitted_at: one year ending now, ascending with the id (rows inserted in id order).
_AT = "now() - make_interval(secs => (%(n)s - {g}) * %(step)s)"
_BODY = (
    "(ARRAY['Thanks for the article, it explains the decision well.',"
    " 'I do not agree with the second paragraph at all.',"
    " 'Does anyone have a source for the numbers quoted here?',"
    " 'This is the third time this year the council postponed the vote.',"
    " 'Great reporting, keep it up.',"
    " 'The photo caption is wrong: that is not the old bridge.',"
    " 'My neighbourhood has had the same problem for years now.',"
    " 'Could you publish the full interview?',"
    " 'Interesting, but the headline overstates it.',"
    " 'Subscribed because of pieces like this one.',"
    " 'Who pays for all of this in the end?'])"
    "[1 + mod(g, 11)] || ' ' || (ARRAY['Really.', 'Just my opinion.', 'See the report.',"
    " 'We will see.', 'Well said.', 'Not convinced.', 'Spot on.'])[1 + mod(g / 11, 7)]"
    " || ' (#' || g || ')'"
)
COMMENTS_SQL = f"""
INSERT INTO comments (id, thread_id, site_id, parent_id, author_name, website,
                      email_ciphertext, email_key_id, email_index, ip_index, ip_truncated,
                      user_agent, referrer, body, body_hash, status, submitted_at, decided_at)
SELECT g, thread_id, site_id, parent_id, name,
       CASE WHEN mod(author_n, 9) = 0 THEN 'https://blog.example/' || author_n END,
       ciphertext, key_id, email_index,
       sha256(convert_to('ip|' || ip_n, 'UTF8')),
       '198.' || mod(ip_n / 65536, 256) || '.' || mod(ip_n / 256, 256) || '.0',
       'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
       'https://news.example/a/' || thread_id,
       {_BODY}, sha256(convert_to({_BODY}, 'UTF8')),
       status, {_AT.format(g="g")},
       CASE WHEN status IN ('rejected', 'deleted')
                 THEN {_AT.format(g="g")} + interval '1 hour'
            WHEN status <> 'pending' THEN {_AT.format(g="g")} + interval '2 seconds' END
FROM (
    SELECT r.g, r.thread_id, r.site_id, r.parent_id, r.author_n, r.status,
           a.name, a.ciphertext, a.key_id, a.email_index,
           r.author_n * 3 + mod(r.g, 3) AS ip_n
    FROM bench_rows AS r JOIN bench_authors AS a ON a.n = r.author_n
    ORDER BY r.g
    OFFSET 0
) AS src
"""  # noqa: S608  (only constant SQL fragments are formatted in)

_REASON = """CASE objector
    WHEN 'disallowed_words' THEN 'contains a disallowed word'
    WHEN 'author_banned' THEN 'author is banned'
    WHEN 'moderation_words' THEN 'contains a moderation word'
    WHEN 'max_links' THEN 'too many links (3 > 2)'
    WHEN 'premoderation' THEN 'the thread is pre-moderated'
    ELSE 'no check objected' END"""
DECISIONS_SQL = f"""
INSERT INTO decisions (id, comment_id, decided_by, from_status, to_status, reason,
                       created_at)
SELECT g, g, CASE WHEN objector IS NULL THEN 'pipeline' ELSE 'check:' || objector END,
       'pending', CASE WHEN status IN ('rejected', 'deleted') THEN 'held' ELSE status END,
       {_REASON}, {_AT.format(g="g")} + interval '2 seconds'
FROM bench_rows WHERE status <> 'pending'
UNION ALL
SELECT %(n)s + g, g, 'moderator:1', 'held', status, 'moderator decision',
       {_AT.format(g="g")} + interval '1 hour'
FROM bench_rows WHERE status IN ('rejected', 'deleted')
ORDER BY 1
"""  # noqa: S608  (only constant SQL fragments are formatted in)

CHECKS_SQL = """
INSERT INTO check_results (decision_id, position, check_name, action, score, reason, spans)
SELECT g, pos, name,
       CASE WHEN name = objector THEN CASE WHEN status = 'spam' THEN 'spam' ELSE 'hold' END
       END,
       CASE WHEN name = objector THEN 1.0 ELSE 0.0 END,
       CASE WHEN name = objector THEN 'objected' ELSE '' END,
       CASE WHEN name = objector AND name LIKE '%%_words' THEN '[[12, 19]]'::json END
FROM (
    SELECT r.g, r.status, r.objector, p.pos, (%(checks)s::text[])[p.pos + 1] AS name
    FROM bench_rows AS r CROSS JOIN generate_series(0, %(n_checks)s - 1) AS p(pos)
    WHERE r.status <> 'pending'
      AND p.pos < %(n_checks)s - CASE WHEN r.objector IS NULL THEN mod(r.g, 3) ELSE 0 END
    ORDER BY r.g, p.pos
    OFFSET 0
) AS src
"""

AUDIT_SQL = f"""
INSERT INTO audit_log (site_id, actor, actor_name, action, comment_id, before, after,
                       detail, created_at)
SELECT site_id, 'moderator:1', 'Bench Moderator',
       CASE status WHEN 'rejected' THEN 'comment.reject' ELSE 'comment.delete' END,
       g, 'held', status, '{{}}'::json, {_AT.format(g="g")} + interval '1 hour'
FROM bench_rows WHERE status IN ('rejected', 'deleted') ORDER BY g
"""  # noqa: S608  (only constant SQL fragments are formatted in)

MARKS_SQL = """
INSERT INTO author_marks (site_id, kind, email_index, ip_prefix, reason, created_by,
                          created_at)
SELECT 1, CASE WHEN mod(n, 3) = 0 THEN 'ban' ELSE 'trust' END, email_index, NULL, 'bench',
       'moderator:1', now()
FROM bench_authors WHERE n BETWEEN 1 AND 60
UNION ALL
SELECT 1, 'ban', NULL, '198.0.' || i || '.0', 'bench', 'moderator:1', now()
FROM generate_series(1, 20) AS i
"""

SECONDARY_INDEXES_SQL = """
SELECT c.relname, t.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_class AS t ON t.oid = i.indrelid
WHERE t.relname = ANY(%(tables)s)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid)
ORDER BY c.relname
"""


@contextlib.contextmanager
def step(timings: dict[str, float], name: str) -> Iterator[None]:
    print(f"  {name} ...", end="", flush=True)
    t0 = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - t0, 2)
    print(f" {timings[name]:.1f} s", flush=True)


def generate(cfg: Config, url: str) -> tuple[Keys, dict[str, Any]]:
    """Fill a freshly migrated database; the keys and what it took."""
    keys = Keys(f"{KEY_ID}:{new_key_material()}", new_key_material())
    vault = PrivacyVault(keys.settings())
    timings: dict[str, float] = {}
    t1 = round(cfg.threads * SITES[0][3])
    t2 = round(cfg.threads * SITES[1][3])
    cum: list[float] = []
    for _, share in STATUS_SHARES:
        cum.append(round((cum[-1] if cum else 0.0) + share, 6))
    checks = [check.name for check in default_checks()]
    if not set(OBJECTORS) <= set(checks):
        raise BenchError(f"checks {sorted(set(OBJECTORS) - set(checks))} are gone: update")
    params: dict[str, Any] = {
        "checks": checks,
        "n_checks": len(checks),
        "n": cfg.comments,
        "authors": cfg.authors,
        "threads": cfg.threads,
        "t1": t1,
        "t2": t2,
        "t3": cfg.threads - t1 - t2,
        "s1": SITES[0][2],
        "s2": SITES[0][2] + SITES[1][2],
        "reply_share": REPLY_SHARE,
        "step": 365 * 86400 / cfg.comments,
        **{f"c{i + 1}": c for i, c in enumerate(cum[:5])},
    }
    t_all = time.perf_counter()
    with gen_connect(url) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        try:
            conn.execute("SET session_replication_role = replica")  # no FK triggers
        except psycopg.Error:
            print("  (not a superuser: foreign keys are checked during the load)")
        conn.execute("CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute(
            "INSERT INTO bench_meta VALUES ('keys', %s), ('config', %s)",
            (json.dumps(asdict(keys)), json.dumps(asdict(cfg))),
        )
        indexes = conn.execute(SECONDARY_INDEXES_SQL, {"tables": list(BIG_TABLES)}).fetchall()
        with step(timings, f"drop {len(indexes)} secondary indexes"):
            for name, _table, _definition in indexes:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        with step(timings, "sites, threads"):
            conn.execute(
                SITES_SQL,
                {
                    "ids": [1, 2, 3],
                    "keys": [s[0] for s in SITES],
                    "names": [s[1] for s in SITES],
                },
            )
            conn.execute(THREADS_SQL, params)
        with step(timings, f"authors: encrypt {cfg.authors:,} emails, COPY"):
            conn.execute(AUTHORS_TABLE_SQL)
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY bench_authors (n, name, ciphertext, key_id, email_index) FROM STDIN"
                ) as copy,
            ):
                for n in range(cfg.authors):
                    sealed = vault.encrypt_email(author_email(n))
                    copy.write_row(
                        (n, author_name(n), sealed.ciphertext, sealed.key_id, sealed.index)
                    )
        with step(timings, "draw comment rows (staging)"):
            conn.execute("SELECT setseed(%s)", (cfg.seed,))
            conn.execute(ROWS_SQL, params)
        with step(timings, f"comments: {cfg.comments:,} rows"):
            conn.execute(COMMENTS_SQL, params)
        with step(timings, "decisions"):
            conn.execute(DECISIONS_SQL, params)
        with step(timings, "check_results"):
            conn.execute(CHECKS_SQL, params)
        with step(timings, "audit_log, author_marks"):
            conn.execute(AUDIT_SQL, params)
            conn.execute(MARKS_SQL, params)
        for table in ("sites", "threads", "comments", "decisions"):
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({name}, 'id'), "
                    "(SELECT max(id) FROM {table}))"
                ).format(name=sql.Literal(table), table=sql.Identifier(table))
            )
        with step(timings, f"re-create {len(indexes)} secondary indexes"):
            for _name, _table, definition in indexes:
                conn.execute(definition.encode())
        conn.execute("DROP TABLE bench_rows, bench_authors")
        with step(timings, "VACUUM (ANALYZE), CHECKPOINT"):
            conn.execute("VACUUM (ANALYZE)")
            with contextlib.suppress(psycopg.Error):
                conn.execute("CHECKPOINT")
    total = round(time.perf_counter() - t_all, 1)
    return keys, {"seconds": total, "steps": timings, "indexes_rebuilt": [i[0] for i in indexes]}


def describe_data(url: str) -> dict[str, Any]:
    """Row counts and sizes, per status for the big site."""
    with gen_connect(url) as conn:
        sizes = {}
        for table in (*BIG_TABLES, "threads", "author_marks"):
            query = sql.SQL(
                "SELECT (SELECT count(*) FROM {table}), pg_total_relation_size({name})"
            ).format(table=sql.Identifier(table), name=sql.Literal(table))
            rows, total = conn.execute(query).fetchone() or (0, 0)
            sizes[table] = {"rows": int(rows), "mb": round(total / 2**20, 1)}
        per_site = conn.execute(
            "SELECT s.key, c.status, count(*) FROM comments AS c JOIN sites AS s "
            "ON s.id = c.site_id GROUP BY s.key, c.status ORDER BY s.key, count(*) DESC"
        ).fetchall()
        settings = dict(
            conn.execute(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', "
                "'jit', 'max_parallel_workers_per_gather')"
            ).fetchall()
        )
        version = conn.execute("SHOW server_version").fetchone()
    by_site: dict[str, dict[str, int]] = {}
    for key, status, count in per_site:
        by_site.setdefault(key, {})[status] = int(count)
    return {
        "tables": sizes,
        "by_site": by_site,
        "pg_settings": settings,
        "pg_version": version[0] if version else None,
    }


# ------------------------------------------------------------------------------------------
# what the cases read
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Picks:
    """Parameters of the cases, chosen from the data of the big site."""

    site_id: int
    site_key: str
    held_count: int
    held_ids: list[int]
    reply_ids: list[int]
    deep_cursor: int
    deep_offset: int
    hot_thread: str
    hot_thread_held: int
    heavy_index: bytes
    heavy_comments: int
    heavy_held_id: int
    typical_index: bytes
    typical_comments: int
    until: dt.datetime


HELD_SQL = "SELECT id FROM comments WHERE site_id = %(s)s AND status = 'held'"
PICK_SQL = {
    "site": "SELECT id FROM sites WHERE key = %(key)s",
    "held_count": "SELECT count(*) FROM comments WHERE site_id = %(s)s AND status = 'held'",
    "held_ids": HELD_SQL + " ORDER BY random() LIMIT %(k)s",
    "reply_ids": HELD_SQL + " AND parent_id IS NOT NULL ORDER BY random() LIMIT %(k)s",
    "deep_cursor": HELD_SQL + " ORDER BY id DESC OFFSET %(o)s LIMIT 1",
    "hot_thread": "SELECT t.key, count(*) FROM comments AS c JOIN threads AS t "
    "ON t.id = c.thread_id WHERE c.site_id = %(s)s AND c.status = 'held' GROUP BY t.key "
    "ORDER BY count(*) DESC LIMIT 1",
    "author_comments": "SELECT count(*) FROM comments WHERE site_id = %(s)s "
    "AND email_index = %(e)s",
    "author_held": HELD_SQL + " AND email_index = %(e)s ORDER BY id DESC LIMIT 1",
    "until": "SELECT now() - interval '182 days'",
}


def pick(url: str, cfg: Config, vault: PrivacyVault) -> Picks:
    """Ids, keys and cursors for the cases, from the big site's data."""
    with gen_connect(url) as conn:
        conn.execute("SELECT setseed(0.5)")

        def rows(name: str, **args: Any) -> list[Any]:
            return conn.execute(PICK_SQL[name].encode(), args).fetchall()

        def one(name: str, **args: Any) -> Any:
            found = rows(name, **args)
            if not found:
                raise BenchError(f"no data for {name}")
            return found[0][0]

        site_id = int(one("site", key=SITES[0][0]))
        need = cfg.iterations + cfg.warmup
        held_count = int(one("held_count", s=site_id))
        deep_offset = int(held_count * 0.8)
        hot = rows("hot_thread", s=site_id)[0]
        # Author 0 is the heaviest by construction; the median one has a handful.
        heavy_index = vault.email_index(author_email(0))
        typical_index = vault.email_index(author_email(cfg.authors // 2))
        return Picks(
            site_id=site_id,
            site_key=SITES[0][0],
            held_count=held_count,
            held_ids=[r[0] for r in rows("held_ids", s=site_id, k=need)],
            reply_ids=[r[0] for r in rows("reply_ids", s=site_id, k=need)],
            deep_cursor=int(one("deep_cursor", s=site_id, o=deep_offset)),
            deep_offset=deep_offset,
            hot_thread=str(hot[0]),
            hot_thread_held=int(hot[1]),
            heavy_index=heavy_index,
            heavy_comments=int(one("author_comments", s=site_id, e=heavy_index)),
            heavy_held_id=int(one("author_held", s=site_id, e=heavy_index)),
            typical_index=typical_index,
            typical_comments=int(one("author_comments", s=site_id, e=typical_index)),
            until=one("until"),
        )


# ------------------------------------------------------------------------------------------
# in-process timing
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    key: str
    title: str
    run: Callable[[Session, int], object]
    kind: str = "list"  # list | counts | detail


def make_cases(p: Picks, vault: PrivacyVault) -> list[Case]:
    site = p.site_id

    def queue(flt: QueueFilter, cursor: int | None = None) -> Callable[[Session, int], object]:
        return lambda s, _i: list_queue(s, site, flt, vault=vault, cursor=cursor)

    def detail(ids: list[int]) -> Callable[[Session, int], object]:
        return lambda s, i: comment_detail(s, site, ids[i % len(ids)], vault=vault)

    held = QueueFilter()
    return [
        Case("first_page", "queue: held, newest first, first page", queue(held)),
        Case(
            "deep_page",
            f"queue: held, page at cursor {p.deep_offset:,} rows down",
            queue(held, p.deep_cursor),
        ),
        Case("oldest", "queue: held, order=oldest", queue(QueueFilter(oldest_first=True))),
        Case("spam", "queue: spam, newest first", queue(QueueFilter(status=CommentStatus.SPAM))),
        Case(
            "thread",
            f"queue: held, thread= hottest ({p.hot_thread_held:,} held)",
            queue(QueueFilter(thread=p.hot_thread)),
        ),
        Case(
            "email_heavy",
            f"queue: held, email= heaviest author ({p.heavy_comments:,} comments)",
            queue(QueueFilter(email_index=p.heavy_index)),
        ),
        Case(
            "email_typical",
            f"queue: held, email= median author ({p.typical_comments:,} comments)",
            queue(QueueFilter(email_index=p.typical_index)),
        ),
        Case(
            "author_common",
            f"queue: held, author= {COMMON_AUTHOR_TERM!r} (~2.5 % of rows)",
            queue(QueueFilter(author=COMMON_AUTHOR_TERM)),
        ),
        Case(
            "author_missing",
            f"queue: held, author= {MISSING_AUTHOR_TERM!r} (no match)",
            queue(QueueFilter(author=MISSING_AUTHOR_TERM)),
        ),
        Case(
            "check_common",
            f"queue: held, check= {COMMON_CHECK} (~55 % of held)",
            queue(QueueFilter(check=COMMON_CHECK)),
        ),
        Case(
            "check_missing",
            f"queue: held, check= {MISSING_CHECK} (no held match)",
            queue(QueueFilter(check=MISSING_CHECK)),
        ),
        Case(
            "until",
            "queue: held, until= 6 months ago",
            queue(QueueFilter(until=p.until)),
        ),
        Case(
            "counts",
            "status counts (6 statuses, cap 10,000)",
            lambda s, _i: status_counts(s, site),
            "counts",
        ),
        Case("detail", "detail: random held comment", detail(p.held_ids), "detail"),
        Case(
            "detail_reply", "detail: random held reply (has parent)", detail(p.reply_ids), "detail"
        ),
        Case(
            "detail_heavy",
            "detail: held comment of heaviest author",
            detail([p.heavy_held_id]),
            "detail",
        ),
    ]


def summarize(samples_ms: list[float]) -> dict[str, Any]:
    s = sorted(samples_ms)
    if not s:
        return {"n": 0}
    return {
        "n": len(s),
        "p50": round(nearest_rank(s, 50), 2),
        "p95": round(nearest_rank(s, 95), 2),
        "p99": round(nearest_rank(s, 99), 2),
        "max": round(s[-1], 2),
        "mean": round(sum(s) / len(s), 2),
    }


class CpuMeter:
    """Machine CPU while a case runs, split into ours (this process and the PostgreSQL
    backends of our engine) and noise (everything else: the machine is shared)."""

    def __init__(self, engine: Engine) -> None:
        self.backends: set[int] = set()
        event.listen(engine, "connect", self._on_connect)
        self._start: tuple[int, int, int] = (0, 0, 0)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        self.backends.add(int(dbapi_connection.info.backend_pid))

    @staticmethod
    def machine() -> tuple[int, int]:
        """Busy and total jiffies of every CPU since boot."""
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
        return sum(values) - values[3] - values[4], sum(values)

    @staticmethod
    def _process(pid: int | str) -> int:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])  # utime + stime

    def _ours(self) -> int:
        return self._process("self") + sum(self._process(pid) for pid in self.backends)

    def start(self) -> None:
        busy, total = self.machine()
        self._start = (busy, total, self._ours())

    def stop(self) -> dict[str, float | None]:
        busy, total = self.machine()
        span = total - self._start[1]
        if span <= 0:
            return {"ours_cpu_pct": None, "noise_cpu_pct": None}
        ours_pct = 100 * (self._ours() - self._start[2]) / span
        busy_pct = 100 * (busy - self._start[0]) / span
        return {
            "ours_cpu_pct": round(ours_pct, 1),
            "noise_cpu_pct": round(max(0.0, busy_pct - ours_pct), 1),
        }


class GcWatch:
    """CPython's cyclic GC while a case runs: full (generation 2) collections walk every
    long-lived object of the process and pause it, whatever the query costs."""

    def __init__(self) -> None:
        self.active = False
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._t0) * 1000))

    def start(self) -> None:
        self.pauses = []
        self.active = True

    def stop(self) -> dict[str, Any]:
        self.active = False
        full = [ms for generation, ms in self.pauses if generation == 2]
        return {
            "gc_full": len(full),
            "gc_full_max_ms": round(max(full), 1) if full else 0.0,
            "gc_ms_total": round(sum(ms for _, ms in self.pauses), 1),
        }


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy every CPU of the machine was over the next `seconds`, in %."""
    busy0, total0 = CpuMeter.machine()
    time.sleep(seconds)
    busy1, total1 = CpuMeter.machine()
    return 100 * (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(cfg: Config) -> float:
    """Wait (at most --quiet-wait s) until the shared machine is calmer than
    --quiet-threshold; how long it waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < cfg.quiet_wait:
        if machine_busy_pct() < cfg.quiet_threshold:
            break
    return round(time.monotonic() - t0, 1)


def time_case(
    cfg: Config, factory: sessionmaker[Session], meter: CpuMeter, gcw: GcWatch, case: Case
) -> dict[str, Any]:
    waited = wait_for_quiet(cfg)
    for i in range(cfg.warmup):
        with factory() as session:
            case.run(session, i)
    samples: list[float] = []
    deadline = time.perf_counter() + cfg.case_budget
    meter.start()
    gcw.start()
    for i in range(cfg.iterations):
        t0 = time.perf_counter()
        with factory() as session:
            case.run(session, cfg.warmup + i)
        samples.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() > deadline:
            break
    return {
        "key": case.key,
        "title": case.title,
        **summarize(samples),
        **gcw.stop(),
        **meter.stop(),
        "quiet_wait_s": waited,
        "samples_ms": samples,
    }


# ------------------------------------------------------------------------------------------
# plans
# ------------------------------------------------------------------------------------------
class SqlCapture:
    """Records the statements an engine sends while `active`."""

    def __init__(self, engine: Engine) -> None:
        self.active = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if self.active:
            self.statements.append((statement, parameters))

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


def scan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from scan_nodes(child)


def node_label(node: dict[str, Any]) -> str:
    kind = str(node["Node Type"])
    if node.get("Scan Direction") == "Backward":
        kind += " Backward"
    label = kind
    if "Index Name" in node:
        label += f" {node['Index Name']}"
    if "Relation Name" in node and "Index Name" not in node:
        label += f" {node['Relation Name']}"
    elif "Relation Name" in node:
        label += f" ({node['Relation Name']})"
    return label


def summarize_plan(plan_json: Any) -> dict[str, Any]:
    top = plan_json[0]
    root = top["Plan"]
    scans: list[str] = []
    seq_big: list[str] = []
    filtered = 0
    sorts: list[str] = []
    for node in scan_nodes(root):
        kind = str(node["Node Type"])
        loops = int(node.get("Actual Loops", 1))
        if "Scan" in kind:
            label = node_label(node)
            if label not in scans:
                scans.append(label)
            filtered += int(node.get("Rows Removed by Filter", 0)) * loops
            if kind == "Seq Scan" and node.get("Relation Name") in BIG_TABLES:
                seq_big.append(str(node["Relation Name"]))
        if kind == "Sort":
            sorts.append(f"Sort {node.get('Sort Method', '')} ({node.get('Actual Rows', 0)})")
    return {
        "scans": scans,
        "sorts": sorts,
        "seq_scan_big": seq_big,
        "rows": int(root.get("Actual Rows", 0)),
        "filtered": filtered,
        "shared_hit": int(root.get("Shared Hit Blocks", 0)),
        "shared_read": int(root.get("Shared Read Blocks", 0)),
        "planning_ms": round(float(top.get("Planning Time", 0.0)), 3),
        "execution_ms": round(float(top.get("Execution Time", 0.0)), 3),
    }


_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_COND = re.compile(
    r"(\w+)\.(\w+)(?:\s*(<=|>=|<>|!=|=|<|>)|\s+(IN|NOT ILIKE|ILIKE|LIKE|IS NOT|IS)\b)",
    re.IGNORECASE,
)


def describe_sql(statement: str) -> str:
    """`table: where-columns | order | limit`, short enough for a table cell."""
    flat = " ".join(statement.split())
    match = _FROM.search(flat)
    table = match.group(1) if match else "?"
    where_at = flat.upper().find(" WHERE ")
    conds: list[str] = []
    if where_at >= 0:
        tail = re.split(r" ORDER BY | GROUP BY | LIMIT ", flat[where_at:])[0]
        for tbl, col, symbol, word in _COND.findall(tail):
            item = f"{tbl}.{col} {(symbol or word).upper()}"
            if item not in conds:
                conds.append(item)
    if flat.upper().startswith("SELECT COUNT(") or "count(*)" in flat.lower():
        table = "count(" + table + ")"
    out = table
    if conds:
        out += ": " + ", ".join(conds)
    order = re.search(r" ORDER BY (.+?)(?: LIMIT | OFFSET |$)", flat)
    if order:
        out += f" · ORDER BY {order.group(1)}"
    limit = re.search(r" LIMIT (\S+)", flat)
    if limit:
        out += " · LIMIT"
    return out


def explain_case(
    url: str,
    capture: SqlCapture,
    factory: sessionmaker[Session],
    case: Case,
    main_only: bool,
) -> list[dict[str, Any]]:
    with capture.capture() as statements, factory() as session:
        case.run(session, 0)
    wanted = statements[:1] if main_only else statements
    out: list[dict[str, Any]] = []
    with gen_connect(url) as conn:
        for number, (statement, params) in enumerate(wanted, start=1):
            query = statement.encode()
            as_json = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params)
            plan_json = as_json.fetchone()
            as_text = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + query, params).fetchall()
            if plan_json is None:
                continue
            out.append(
                {
                    "case": case.key,
                    "query": number,
                    "what": describe_sql(statement),
                    "sql": statement,
                    "params": {k: repr(v) for k, v in dict(params or {}).items()},
                    **summarize_plan(plan_json[0]),
                    "text": "\n".join(r[0] for r in as_text),
                }
            )
    return out


# ------------------------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------------------------
def http_get(port: int, path: str, token: str) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        t0 = time.perf_counter()
        conn.request(
            "GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        response = conn.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - t0) * 1000
    finally:
        conn.close()


GC_FREEZE_CONF = """\
import gc

from api.gunicorn_conf import *  # noqa: F403

_base_post_worker_init = globals().get("post_worker_init")


def post_worker_init(worker):
    if _base_post_worker_init is not None:
        _base_post_worker_init(worker)
    gc.collect()
    gc.freeze()
"""


class Gunicorn:
    """The API under gunicorn, in its own process group, stopped by that group's id."""

    def __init__(self, cfg: Config, url: str, keys: Keys, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / "gunicorn.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYGUARD_")}
        env |= {
            "REPLYGUARD_DATABASE_URL": url,
            "REPLYGUARD_ENV": "development",
            "REPLYGUARD_BROKER_URL": cfg.redis_url,
            "REPLYGUARD_EMAIL_KEYS": keys.email_keys,
            "REPLYGUARD_INDEX_KEY": keys.index_key,
            "REPLYGUARD_SECRET_KEY": secrets.token_urlsafe(32),
            "REPLYGUARD_INSTANCE_PATH": str(workdir / "instance"),
        }
        config = "python:api.gunicorn_conf"
        if cfg.gc_freeze:  # the deployment's settings plus a gc.freeze() once the app is loaded
            wrapper = workdir / "gunicorn_gc_freeze.py"
            wrapper.write_text(GC_FREEZE_CONF)
            config = str(wrapper)
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(gunicorn),
                    "--workers",
                    str(cfg.http_workers),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--config",
                    config,
                    "api:create_app()",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited (log: {self.log_path})")
            with contextlib.suppress(OSError):
                if http_get(self.port, "/healthz", "")[0] == 200:
                    return
            time.sleep(0.2)
        raise BenchError(f"gunicorn not ready after {timeout} s (log: {self.log_path})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def measure_http(
    cfg: Config, url: str, keys: Keys, picks: Picks, factory: sessionmaker[Session]
) -> dict[str, Any]:
    with factory() as session:
        site = session.get(Site, picks.site_id)
        assert site is not None
        token = create_token(session, site, Role.ADMIN, label="bench").secret
        session.commit()
    base = f"/api/v1/sites/{picks.site_key}/moderation"
    endpoints: list[tuple[str, str, Callable[[int], str]]] = [
        ("http_queue", "GET queue?status=held", lambda _i: f"{base}/queue?status=held"),
        (
            "http_queue_deep",
            f"GET queue?status=held&cursor= ({picks.deep_offset:,} rows down)",
            lambda _i: f"{base}/queue?status=held&cursor={picks.deep_cursor}",
        ),
        (
            "http_detail",
            "GET comments/<random held id>",
            lambda i: f"{base}/comments/{picks.held_ids[i % len(picks.held_ids)]}",
        ),
    ]
    workdir = Path(tempfile.mkdtemp(prefix="replyguard-bench-queue-"))
    server = Gunicorn(cfg, url, keys, workdir)
    results: list[dict[str, Any]] = []
    try:
        server.wait_ready()
        for key, title, path_for in endpoints:
            status, body, _ = http_get(server.port, path_for(0), token)
            if status != 200:
                note = "route missing (404)" if status == 404 else f"HTTP {status}"
                results.append(
                    {
                        "key": key,
                        "title": title,
                        "n": 0,
                        "status": status,
                        "note": note,
                        "body": body[:300].decode(errors="replace"),
                    }
                )
                continue
            wait_for_quiet(cfg)
            for i in range(cfg.warmup):
                http_get(server.port, path_for(i), token)
            samples: list[float] = []
            codes: dict[int, int] = {}
            deadline = time.perf_counter() + cfg.case_budget
            for i in range(cfg.iterations):
                status, _, ms = http_get(server.port, path_for(cfg.warmup + i), token)
                codes[status] = codes.get(status, 0) + 1
                samples.append(ms)
                if time.perf_counter() > deadline:
                    break
            results.append(
                {
                    "key": key,
                    "title": title,
                    **summarize(samples),
                    "status_counts": codes,
                    "note": "",
                    "samples_ms": samples,
                }
            )
    finally:
        server.stop()
    return {"workers": cfg.http_workers, "log": str(server.log_path), "results": results}


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------
def fmt_ms(value: Any) -> str:
    return "–" if value is None else f"{value:,.1f}"


def verdict(p99: Any) -> str:
    if p99 is None:
        return "–"
    return "yes" if p99 <= TARGET_P99_MS else "**NO**"


def markdown(report: dict[str, Any]) -> str:
    out: list[str] = []
    data = report.get("data", {})
    gen = report.get("generation")
    cfg = report["meta"]["config"]
    out.append(
        f"## Queue benchmark: {cfg['comments']:,} comments, PostgreSQL {data.get('pg_version')}"
    )
    out.append("")
    if gen:
        out.append(f"Generation: **{gen['seconds']:.1f} s** in all.")
        out.append("")
        out.append("| step | s |")
        out.append("|---|---:|")
        for name, seconds in gen["steps"].items():
            out.append(f"| {name} | {seconds:.1f} |")
        out.append("")
    if data:
        out.append("| table | rows | size MB |")
        out.append("|---|---:|---:|")
        for table, info in data["tables"].items():
            out.append(f"| {table} | {info['rows']:,} | {info['mb']:,.1f} |")
        out.append("")
        statuses = [s for s, _ in STATUS_SHARES]
        out.append("| site | " + " | ".join(statuses) + " |")
        out.append("|---|" + "---:|" * len(statuses))
        for site, counts in data["by_site"].items():
            out.append(
                f"| {site} | " + " | ".join(f"{counts.get(s, 0):,}" for s in statuses) + " |"
            )
        out.append("")
        settings = ", ".join(f"{k} {v}" for k, v in sorted(data["pg_settings"].items()))
        out.append(f"PostgreSQL settings: {settings}.")
        out.append("")
    out.append(
        f"### In process (direct core.queue calls, site `bench-big`; ms, "
        f"{cfg['iterations']} calls after {cfg['warmup']} warm-up)"
    )
    out.append("")
    out.append(
        "| case | n | p50 | p95 | p99 | max | p99 ≤ 50 ms | full GCs (max ms) | noise CPU % |"
    )
    out.append("|---|---:|---:|---:|---:|---:|:---:|---:|---:|")
    for r in report["cases"]:
        out.append(
            f"| {r['title']} | {r['n']} | {fmt_ms(r.get('p50'))} | {fmt_ms(r.get('p95'))} | "
            f"{fmt_ms(r.get('p99'))} | {fmt_ms(r.get('max'))} | {verdict(r.get('p99'))} | "
            f"{r.get('gc_full', '–')} ({fmt_ms(r.get('gc_full_max_ms'))}) | "
            f"{fmt_ms(r.get('noise_cpu_pct'))} |"
        )
    out.append("")
    out.append(
        "full GCs: CPython generation-2 collections during the timed calls (each pauses the "
        "call it falls in)"
        + (", after gc.freeze()" if cfg.get("gc_freeze") else "")
        + ". noise CPU %: what the rest of the machine used meanwhile, in % of all its "
        "CPUs (this process and its PostgreSQL backends left out)."
    )
    out.append("")
    http_part = report.get("http")
    if http_part:
        out.append(f"### Through HTTP (gunicorn --workers {http_part['workers']}, one client; ms)")
        out.append("")
        out.append("| request | n | p50 | p95 | p99 | max | p99 ≤ 50 ms | note |")
        out.append("|---|---:|---:|---:|---:|---:|:---:|---|")
        for r in http_part["results"]:
            out.append(
                f"| {r['title']} | {r['n']} | {fmt_ms(r.get('p50'))} | {fmt_ms(r.get('p95'))} | "
                f"{fmt_ms(r.get('p99'))} | {fmt_ms(r.get('max'))} | {verdict(r.get('p99'))} | "
                f"{r.get('note', '')} |"
            )
        out.append("")
    out.append("### Query plans (EXPLAIN ANALYZE, BUFFERS; same SQL and parameters)")
    out.append("")
    out.append("| case | # | query | scans | rows | removed by filter | buffers hit/read | ms |")
    out.append("|---|---:|---|---|---:|---:|---:|---:|")
    for p in report["plans"]:
        scans = "; ".join(p["scans"] + p["sorts"])
        if p["seq_scan_big"]:
            scans = "**SEQ SCAN** " + scans
        out.append(
            f"| {p['case']} | {p['query']} | {p['what'].replace('|', '/')} | {scans} | "
            f"{p['rows']:,} | {p['filtered']:,} | {p['shared_hit']:,}/{p['shared_read']:,} | "
            f"{p['execution_ms']:,.2f} |"
        )
    out.append("")
    flagged = [p for p in report["plans"] if p["flags"]]
    if flagged:
        out.append("### Flagged plans")
        for p in flagged:
            out.append("")
            out.append(f"**{p['case']} #{p['query']}**: {', '.join(p['flags'])}")
            out.append("")
            out.append("```")
            out.append(p["sql"])
            out.append("")
            out.append(p["text"])
            out.append("```")
    slow = [r for r in report["cases"] if r.get("p99") is not None and r["p99"] > TARGET_P99_MS]
    out.append("")
    if slow:
        out.append(
            "Over the 50 ms p99 target: "
            + ", ".join(f"{r['key']} ({r['p99']:.1f} ms)" for r in slow)
        )
    else:
        out.append("Every in-process case is within the 50 ms p99 target.")
    return "\n".join(out)


def flag(plan: dict[str, Any]) -> list[str]:
    flags = []
    if plan["seq_scan_big"]:
        flags.append("Seq Scan on " + ", ".join(plan["seq_scan_big"]))
    if plan["filtered"] >= 10_000:
        flags.append(f"{plan['filtered']:,} rows read and discarded by a filter")
    if plan["execution_ms"] > TARGET_P99_MS / 2:
        flags.append(f"{plan['execution_ms']:.1f} ms execution")
    return flags


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("sqlalchemy", "psycopg", "flask", "gunicorn"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    return found


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------
def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # run the finally blocks: the database is dropped


@dataclass
class Run:
    url: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


def load_keys(url: str) -> Keys:
    with gen_connect(url) as conn:
        row = conn.execute("SELECT value FROM bench_meta WHERE key = 'keys'").fetchone()
    if row is None:
        raise BenchError("not a database generated by bench/moderation_queue.py (no bench_meta)")
    return Keys(**json.loads(row[0]))


def run(cfg: Config, state: Run) -> None:
    report = state.report
    if cfg.reuse_db:
        url = cfg.reuse_db
        print(f"== reusing {make_url(url).database}", flush=True)
        keys = load_keys(url)
    else:
        url = create_database(cfg.pg_admin_url)
        state.url = url
        print(f"== database {make_url(url).database}: migrate, generate", flush=True)
        t0 = time.perf_counter()
        upgrade(url)
        print(f"  migrate ... {time.perf_counter() - t0:.1f} s", flush=True)
        keys, report["generation"] = generate(cfg, url)
    report["data"] = describe_data(url)
    vault = PrivacyVault(keys.settings())
    picks = pick(url, cfg, vault)
    report["picks"] = {
        k: v
        for k, v in asdict(picks).items()
        if k not in ("held_ids", "reply_ids", "heavy_index", "typical_index")
    }
    engine = make_engine(url, application_name="replyguard-bench-queue")
    capture = SqlCapture(engine)
    meter = CpuMeter(engine)
    gcw = GcWatch()
    factory = make_sessionmaker(engine)
    try:
        cases = make_cases(picks, vault)
        if cfg.gc_freeze:
            gc.collect()
            gc.freeze()  # what a worker calling gc.freeze() once started up would get
        print("== timing (in process)", flush=True)
        report["cases"] = []
        for case in cases:
            result = time_case(cfg, factory, meter, gcw, case)
            report["cases"].append(result)
            print(
                f"  {case.title}: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms "
                f"(n={result['n']})",
                flush=True,
            )
        print("== EXPLAIN ANALYZE", flush=True)
        plans: list[dict[str, Any]] = []
        for case in cases:
            main_only = case.kind == "list" and case.key != "first_page"
            plans.extend(explain_case(url, capture, factory, case, main_only))
        for plan in plans:
            plan["flags"] = flag(plan)
        report["plans"] = plans
        if cfg.http:
            print("== HTTP (gunicorn)", flush=True)
            report["http"] = measure_http(cfg, url, keys, picks, factory)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = dt.datetime.now(dt.UTC)
    state = Run()
    state.report["meta"] = {
        "started": started.isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "versions": versions(),
        "config": asdict(cfg),
    }
    t0 = time.perf_counter()
    failed: str | None = None
    try:
        run(cfg, state)
    except KeyboardInterrupt:
        failed = "interrupted"
    except (BenchError, psycopg.Error) as exc:
        failed = f"{type(exc).__name__}: {exc}"
    finally:
        if state.url and not cfg.keep_db:
            print(f"== dropping {make_url(state.url).database}", flush=True)
            drop_database(cfg.pg_admin_url, state.url)
        elif state.url:
            print(f"== kept: --reuse-db {state.url}", flush=True)
    meta = state.report["meta"]
    meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    meta["loadavg_after"] = os.getloadavg()
    meta["failed"] = failed
    if "cases" in state.report and "plans" in state.report:
        table = markdown(state.report)
        state.report["markdown"] = table
        print()
        print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    suffix = "-quick" if cfg.quick else ""
    out = RESULTS_DIR / f"queue-{started.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
    out.write_text(json.dumps(state.report, indent=1, default=str))
    print(f"\nraw results: {out}  (elapsed {meta['elapsed_s']} s)")
    if failed:
        print(f"FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
