"""MQTT: the versioned topic tree, the JSON contract and the outbox -> broker publisher.

docs/mqtt.md is the contract. Modules:
- topics      the topic tree and id rules (no paho, no jsonschema)
- payloads    building the JSON documents; NaN refused
- schema      the JSON Schemas (schemas/*.json) and `check_message` for receivers (ingest)
- publisher   `MqttOptions`, `Publisher`: the outbox -> broker pump with its own thread
- discovery   optional Home Assistant MQTT discovery
- paho_adapter  the only module importing paho-mqtt: a connection that reconnects for ever

Import what you need from the module itself (`from gateway.mqtt.publisher import Publisher`), so a
receiver that only validates does not load paho.
"""
