"""A --respond module that cannot be imported: the CLI must say so in one line."""

raise RuntimeError("this module fails on import, on purpose")
