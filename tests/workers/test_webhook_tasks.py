"""Webhooks in the Celery configuration and in the processes that run it: deliveries on a
queue of their own (consumed by a worker of their own in `make run`), the poller on beat,
stable task names, and the loopback allowance only where it belongs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cli.devstack import DevStack, webhook_worker_argv, worker_argv
from core import tasknames
from core.config import ConfigError, Settings
from workers.celery_app import make_celery


def test_deliveries_are_routed_to_their_own_queue() -> None:
    conf = make_celery(Settings(broker_url="redis://127.0.0.1:6379/14")).conf
    assert conf.task_routes[tasknames.DELIVER_WEBHOOK] == {"queue": tasknames.QUEUE_WEBHOOKS}
    assert tasknames.QUEUE_WEBHOOKS not in {tasknames.QUEUE_MODERATION, tasknames.QUEUE_MAINTENANCE}
    poll = conf.beat_schedule["poll-webhooks"]
    assert poll["task"] == tasknames.POLL_WEBHOOKS
    assert poll["schedule"] == Settings().webhook_poll_seconds
    assert poll["options"]["queue"] == tasknames.QUEUE_MAINTENANCE
    assert conf.beat_schedule["prune-webhooks"]["task"] == tasknames.PRUNE_WEBHOOKS


def test_webhook_tasks_are_registered_under_stable_names() -> None:
    import workers.webhook_tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import celery_app

    names = {tasknames.DELIVER_WEBHOOK, tasknames.POLL_WEBHOOKS, tasknames.PRUNE_WEBHOOKS}
    assert names <= set(celery_app.tasks)
    deliver = celery_app.tasks[tasknames.DELIVER_WEBHOOK]
    assert deliver.acks_late is True and deliver.ignore_result is True
    assert tasknames.DELIVER_WEBHOOK == "replyguard.deliver_webhook"


def test_moderation_and_webhook_workers_consume_different_queues() -> None:
    moderation = worker_argv("python", concurrency=1, hostname="a@h")
    webhooks = webhook_worker_argv("python", concurrency=8, hostname="b@h")
    mod_queues = moderation[moderation.index("-Q") + 1].split(",")
    hook_queues = webhooks[webhooks.index("-Q") + 1].split(",")
    assert tasknames.QUEUE_WEBHOOKS not in mod_queues
    assert hook_queues == [tasknames.QUEUE_WEBHOOKS]
    assert webhooks[webhooks.index("--pool") + 1] == "threads"


def test_make_run_starts_a_webhook_worker_and_allows_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPLYGUARD_WEBHOOKS_ALLOW_LOOPBACK", raising=False)
    stack = DevStack(
        Settings(instance_path=str(tmp_path / "instance")), port=8123, web_workers=1, concurrency=1
    )
    names = [child.name for child in stack.commands()]
    assert "webhooks" in names and "worker" in names
    env = stack.child_env("redis://127.0.0.1:1/0")
    assert env["REPLYGUARD_WEBHOOKS_ALLOW_LOOPBACK"] == "1"
    assert Settings.from_env(env).webhooks_allow_loopback is True
    assert sys.executable in next(c.argv for c in stack.commands() if c.name == "webhooks")


def test_production_refuses_the_loopback_allowance() -> None:
    settings = Settings(
        env="production",
        secret_key="s",
        email_keys="k:x",
        index_key="y",
        database_url="postgresql://db/x",
        webhooks_allow_loopback=True,
    )
    with pytest.raises(ConfigError, match="REPLYGUARD_WEBHOOKS_ALLOW_LOOPBACK"):
        settings.check_production_safety()
    settings.with_overrides(webhooks_allow_loopback=False).check_production_safety()
