"""Private pieces of the ``sayna`` command line; the entry point is :mod:`sayna.cli`."""
