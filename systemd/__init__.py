"""The systemd units, installed as package data of `metergate_data.systemd` (see config/__init__.py)."""
