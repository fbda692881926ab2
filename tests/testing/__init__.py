"""sayna.testing: the local fake server, its scripting, cassettes and helpers."""
