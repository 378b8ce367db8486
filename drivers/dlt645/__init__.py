"""DL/T 645-2007, the Chinese multi-function electricity meter protocol: frames, data identifiers,
the serial connection."""
