"""Stable task names: the contract between the outbox (which sends by name) and the workers.
Renaming one breaks messages already in flight, so these never change."""

MODERATE = "replyguard.moderate"
SWEEP_OUTBOX = "replyguard.sweep_outbox"
PRUNE_ACCOUNTS = "replyguard.prune_accounts"

# Queues: moderation work never waits behind maintenance (or, later, webhooks).
QUEUE_MODERATION = "moderation"
QUEUE_MAINTENANCE = "maintenance"
TASK_QUEUES = {
    MODERATE: QUEUE_MODERATION,
    SWEEP_OUTBOX: QUEUE_MAINTENANCE,
    PRUNE_ACCOUNTS: QUEUE_MAINTENANCE,
}
