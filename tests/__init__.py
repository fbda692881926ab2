"""The test suite: a package so that every folder imports its helpers as ``tests.support``."""
