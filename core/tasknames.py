"""Stable task names: the contract between the outbox (which sends by name) and the workers.
Renaming one breaks messages already in flight, so these never change."""

MODERATE = "replyguard.moderate"
SWEEP_OUTBOX = "replyguard.sweep_outbox"
PRUNE_ACCOUNTS = "replyguard.prune_accounts"
DELIVER_WEBHOOK = "replyguard.deliver_webhook"
POLL_WEBHOOKS = "replyguard.poll_webhooks"
PRUNE_WEBHOOKS = "replyguard.prune_webhooks"
LEARN_SITES = "replyguard.learn_sites"
PRUNE_IPS = "replyguard.prune_ips"

# Queues: moderation work never waits behind maintenance or webhooks. Deliveries have a
# queue (and a worker) of their own, so a receiver that takes 15 s to answer occupies a
# webhook worker's slot, never a moderation worker's. The webhook poller only publishes,
# so it runs with maintenance.
QUEUE_MODERATION = "moderation"
QUEUE_MAINTENANCE = "maintenance"
QUEUE_WEBHOOKS = "webhooks"
TASK_QUEUES = {
    MODERATE: QUEUE_MODERATION,
    SWEEP_OUTBOX: QUEUE_MAINTENANCE,
    PRUNE_ACCOUNTS: QUEUE_MAINTENANCE,
    DELIVER_WEBHOOK: QUEUE_WEBHOOKS,
    POLL_WEBHOOKS: QUEUE_MAINTENANCE,
    PRUNE_WEBHOOKS: QUEUE_MAINTENANCE,
    LEARN_SITES: QUEUE_MAINTENANCE,
    PRUNE_IPS: QUEUE_MAINTENANCE,
}
