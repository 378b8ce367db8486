"""The shared core every role imports and that imports nothing of theirs (docs/architecture.md):
the quantity vocabulary, the building categories, TOML line lookup for file:line errors, config
problems and the error root."""
