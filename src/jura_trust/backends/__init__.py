"""Backends (layer 9): signing services, clocks and calendar stores.

* :mod:`jura_trust.backends.base`: the :class:`SigningService` protocol and clocks
  (:class:`SystemClock`, :class:`ManualClock` for tests).
* :mod:`jura_trust.backends.memory`: :class:`EmbeddedBackend`, a complete KSI
  service in process (aggregator, calendar, calendar signer, publisher), in
  memory or in a state directory.
* :mod:`jura_trust.backends.ksi_http`: :class:`KsiHttpBackend`, a PDU v2 client
  for a remote KSI service (jura_trust's own ``jura-trust serve`` or Guardtime's
  gateways), standard library only.
* :mod:`jura_trust.backends.stores`: calendar stores (memory, SQLite).
* :mod:`jura_trust.backends.home`: the locks that let processes share a home
  (a running service holds it; writers queue for its state).
"""
