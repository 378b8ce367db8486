"""Line numbers of keys in a TOML text: moved to drivers/toml_lines.py, so the profile loader can
name the line of a problem too; re-exported here for the config loaders."""

from drivers.toml_lines import KeyPath, key_lines, line_of

__all__ = ["KeyPath", "key_lines", "line_of"]
