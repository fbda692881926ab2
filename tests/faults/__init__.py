"""Servers that misbehave on purpose: raw sockets, hostile answers, limits, forks."""
