"""The local KSI service: aggregator, extender and publisher over HTTP (layer 10).

An optional extra (``pip install 'jura-trust[service]'``): aiohttp is
imported only inside this package. Start it with ``jura-trust serve`` or
``python -m jura_trust.service``; any KSI client that speaks PDU v2 (the
reference C tool, the Java SDK, jura_trust's own
:class:`~jura_trust.backends.ksi_http.KsiHttpBackend`) can then sign,
extend and fetch the publications file. See docs/service.md.

Modules: :mod:`~jura_trust.service.config` (TOML configuration),
:mod:`~jura_trust.service.rounds` (the round loop),
:mod:`~jura_trust.service.publisher` (the publication schedule),
:mod:`~jura_trust.service.auth` (logins and rate limits),
:mod:`~jura_trust.service.metrics` (Prometheus text) and
:mod:`~jura_trust.service.app` (the HTTP routes and :func:`serve`).

The names below are imported on first use, so that
:mod:`~jura_trust.service.command` (the options, ``python -m
jura_trust.service``) loads without aiohttp and can say which extra to
install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jura_trust.service.app import Service, open_backend, serve
    from jura_trust.service.config import Login, Schedule, ServiceConfig, load_config

__all__ = ["Login", "Schedule", "Service", "ServiceConfig", "load_config", "open_backend", "serve"]

_WHERE = {
    "Service": "app",
    "open_backend": "app",
    "serve": "app",
    "Login": "config",
    "Schedule": "config",
    "ServiceConfig": "config",
    "load_config": "config",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
