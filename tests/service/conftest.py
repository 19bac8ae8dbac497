"""Fixtures for the local service tests: a real server subprocess on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jura_trust import pki
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from tests.service.server import KEY, LOGIN, PUBLISHER_EMAIL, ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module: short rounds, a publication every 2 s."""
    home = tmp_path_factory.mktemp("service-home")
    with ServerProcess(home, "--round-ms", "1000", "--publish-schedule", "every 2s") as srv:
        yield srv


def client_for(srv: ServerProcess, **kwargs: object) -> KsiHttpBackend:
    anchor = pki.load_certificate((srv.home / "publisher-cert.pem").read_bytes())
    options: dict[str, object] = {
        "login": LOGIN,
        "key": KEY,
        "timeout": 10.0,
        "trust_anchors": [anchor],
        "cert_constraints": {"E": PUBLISHER_EMAIL},
    }
    options.update(kwargs)
    return KsiHttpBackend(srv.aggregator, srv.extender, srv.publications, **options)  # type: ignore[arg-type]


@pytest.fixture
def client(server: ServerProcess) -> Iterator[KsiHttpBackend]:
    backend = client_for(server)
    try:
        yield backend
    finally:
        backend.close()


def trusted(srv: ServerProcess, data: bytes) -> VerifiedPublicationsFile:
    pubfile = PublicationsFile.parse(data)
    anchor = pki.load_certificate((srv.home / "publisher-cert.pem").read_bytes())
    return pubfile.trusted(trust_anchors=[anchor], constraints={"E": PUBLISHER_EMAIL})
