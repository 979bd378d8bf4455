"""Fault tests: servers killed, a database stopped, and what must survive it."""
