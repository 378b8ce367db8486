"""Alerts on the wire and on disk: MQTT topics and payloads, the SQLite alert store, the analytics
service (`metergate analytics`). The lifecycle itself is analytics.alerts (pure)."""
