"""Webhooks: sites hear about comment events over signed HTTP POSTs (Standard Webhooks 1.0).

- `signing`: `whsec_` secrets, `v1,` HMAC-SHA256 signatures, the verifier we document.
- `ssrf`: which URLs may be called, checked on resolved addresses (registration and send).
- `transport`: one POST over a connection pinned to a checked address, with hard timeouts.
- `schedule`: the spec's retry schedule with jitter.
- `endpoints`: register, change, rotate, delete endpoints (audited).
- `fanout`: events become deliveries in the transaction of their cause.
- `delivery`: claim, attempt, record; the poller; replay; retention.

Nothing here imports Flask or Celery; the adapters call these functions. This package's
`__init__` imports nothing, so `core.events` can use `fanout` without import cycles.
"""
