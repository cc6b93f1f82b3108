"""The JSON schemas of the allocation formats (``market`` and ``result``).

A package only so that setuptools ships the ``*.json`` files (``package-data`` in
pyproject.toml applies to packages); load them with ``registrations.allocation.market.schema``.
"""
