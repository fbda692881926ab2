"""Helpers shared by the test folders: servers, peers, configurations, polling, processes."""
