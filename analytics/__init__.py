"""The numpy analytics engine: interval aggregation, roll-ups, indicators, detectors, quotas.

Independent of Modbus and MQTT. Arrives with the analytics issue.
"""
