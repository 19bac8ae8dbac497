"""Attacks on the residents' page and its JSON API (``service/page.py``)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from jura_trust.service.config import PageConfig
from jura_trust.service.page import ResidentPage


def test_attack_forwarded_for_first_header_line_dodges_the_client_rate() -> None:
    """A client behind a proxy that adds its own ``X-Forwarded-For`` line cannot pick its bucket.

    Proxies such as HAProxy (``option forwardfor``) append a *new* header
    line rather than joining the client's: the entry the proxy wrote is the
    last one of the last line. Reading only the first line let every request
    name a fresh address and so get a fresh bucket (the per-client rate
    limit bypassed; only the shared one left).
    """
    config = PageConfig(forwarded_for=True, client_rate=0.001, client_burst=1)
    page = ResidentPage(cast("Any", None), config, body_timeout=1.0)
    try:
        for i in range(5):
            headers = CIMultiDict[str]()
            headers.add("X-Forwarded-For", f"198.51.100.{i}")  # chosen by the client
            headers.add("X-Forwarded-For", "203.0.113.7")  # appended by the proxy
            request = make_mocked_request("POST", "/api/v1/verify-qr", headers=headers)
            if i == 0:
                page._admit(request, 1)
                continue
            with pytest.raises(Exception, match="too many requests") as refused:
                page._admit(request, 1)
            assert getattr(refused.value, "status", None) == 429
    finally:
        page._pool.shutdown(wait=False)


@pytest.mark.parametrize("joined", ["198.51.100.9, 203.0.113.7", " 203.0.113.7 "])
def test_forwarded_for_single_line_still_uses_the_last_entry(joined: str) -> None:
    """One joined line (nginx's ``$proxy_add_x_forwarded_for``) still counts its last entry."""
    config = PageConfig(forwarded_for=True, client_rate=0.001, client_burst=1)
    page = ResidentPage(cast("Any", None), config, body_timeout=1.0)
    try:
        request = make_mocked_request(
            "POST", "/api/v1/verify-qr", headers=CIMultiDict({"X-Forwarded-For": joined})
        )
        page._admit(request, 1)
        assert not page.limiter.allow("203.0.113.7")
    finally:
        page._pool.shutdown(wait=False)
