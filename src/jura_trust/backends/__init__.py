"""Backends (layer 9): signing services and calendar stores.

* :mod:`jura_trust.backends.stores`: calendar stores (memory, SQLite).
"""
