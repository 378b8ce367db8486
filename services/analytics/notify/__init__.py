"""Notifications of the analytics service: alerts raised, escalated and cleared, and reports ready,
by e-mail (SMTP) and webhook (JSON POST, WeCom/DingTalk robots), routed per site with quiet hours,
retried with backoff on a worker thread, every attempt recorded in the alert store.

One module per job: `config` ([notify] checked), `message` (what is said, rendered per channel),
`routing` (which channels, when), `mail` and `webhook` (one attempt each), `worker` (queue, schedule,
retries), `records` (the store rows), `hook` (a report's "ready" notification from another process).
docs/notifications.md describes the behaviour.
"""
