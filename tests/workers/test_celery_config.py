"""C1: the Celery settings we rely on, read back from the configured app."""

from __future__ import annotations

from core import tasknames
from core.config import Settings
from core.queueconfig import TASK_TIME_LIMIT, celery_config
from workers.celery_app import make_celery


def test_worker_settings() -> None:
    app = make_celery(Settings(broker_url="redis://127.0.0.1:6379/14"))
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert conf.task_ignore_result is True
    assert conf.broker_transport_options["visibility_timeout"] == conf.visibility_timeout
    assert (
        conf.visibility_timeout
        > conf.task_time_limit
        == TASK_TIME_LIMIT
        > conf.task_soft_time_limit
    )
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.worker_soft_shutdown_timeout > 0
    assert conf.task_routes[tasknames.MODERATE] == {"queue": tasknames.QUEUE_MODERATION}
    assert conf.beat_schedule["sweep-outbox"]["task"] == tasknames.SWEEP_OUTBOX


def test_tasks_are_registered_under_stable_names() -> None:
    import workers.tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import celery_app

    assert {tasknames.MODERATE, tasknames.SWEEP_OUTBOX} <= set(celery_app.tasks)
    moderate = celery_app.tasks[tasknames.MODERATE]
    assert moderate.acks_late is True and moderate.ignore_result is True


def test_publisher_never_waits_on_the_broker() -> None:
    conf = celery_config(Settings(broker_timeout_seconds=1.0), role="publisher")
    assert conf["task_publish_retry"] is False
    assert conf["broker_transport_options"]["socket_timeout"] == 1.0
    assert conf["broker_transport_options"]["socket_connect_timeout"] == 1.0
