"""Ingest: readings from MQTT into InfluxDB (or a server speaking its write API), losing nothing.

- `target.py`   where to write: InfluxTarget (api v1/v2, url, bucket/database, credentials)
- `retry.py`    RetryPolicy and its exponential backoff
- `lineproto.py` line protocol: escaping, one line per reading
- `writer.py`   LineWriter: synchronous writes with our own retry loop (the influxdb-client adapter)
- `config.py`   the ingest TOML file, errors with file:line:key
- `validate.py` a readings message -> lines, or the reason it is refused
- `consumer.py` the paho-mqtt side: shared subscription, persistent session, manual acks
- `service.py`  batching, writing, acknowledging, dead letters
- `health.py`   counters on the health topic and as Prometheus text
"""
