"""Adapters for outside systems: one folder per system; only that folder imports its SDK."""
