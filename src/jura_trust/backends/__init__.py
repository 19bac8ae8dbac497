"""Backends (layer 9): signing services, clocks and calendar stores.

* :mod:`jura_trust.backends.base`: the :class:`SigningService` protocol and clocks
  (:class:`SystemClock`, :class:`ManualClock` for tests).
* :mod:`jura_trust.backends.memory`: :class:`EmbeddedBackend`, a complete KSI
  service in process (aggregator, calendar, calendar signer, publisher), in
  memory or in a state directory.
* :mod:`jura_trust.backends.ksi_http`: :class:`KsiHttpBackend`, a PDU v2 client
  for a remote KSI service (jura_trust's own ``jura-trust serve`` or Guardtime's
  gateways), standard library only.
* :mod:`jura_trust.backends.parts`: the parts a service is assembled from
  (calendar, extender, publications, key store) and their local versions.
* :mod:`jura_trust.backends.batcher`: the one round batcher.
* :mod:`jura_trust.backends.stores`: calendar stores (memory, SQLite).
* :mod:`jura_trust.backends.postgres`: the PostgreSQL store, the calendar
  writer lease and hand-offs between processes (extra ``postgres``).
* :mod:`jura_trust.backends.parent`: a child aggregator's parts (a parent
  aggregator anchors its rounds).
* :mod:`jura_trust.backends.home`: the locks that let processes share a home
  (a running service holds it; writers queue for its state).
"""
