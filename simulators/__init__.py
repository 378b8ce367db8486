"""Simulated meters for tests, benchmarks and the demo: meter physics, Modbus slaves over TCP, RTU on
pseudo-terminals and RTU over TCP, wire-timing emulation and fault injection.

Kept import-free on purpose: import the module you need (simulators.bus, simulators.meter, ...).
"""
