"""Link certificates: the digit form of a JT1 text after a URL's ``#`` (jura_trust.certificates.link)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust import qr
from jura_trust.certificates.jt1 import SealCache, decode_certificate, verify_certificate
from jura_trust.certificates.link import (
    MAX_LINK_LENGTH,
    bytes_to_digits,
    digits_to_bytes,
    is_link,
    link_text,
    plain_text,
)
from jura_trust.errors import CertificateError, ErrorCode
from tests.budget import scaled
from tests.certificates.jt1_helpers import LATER, backend, trust_list
from tests.certificates.test_jt1 import issue, registry, verify

BASE = "https://qr.jura.ch/"


# -- the digit form ----------------------------------------------------------------------


@settings(max_examples=scaled(200), deadline=None)
@given(st.binary(max_size=200))
def test_digit_form_round_trips(data: bytes) -> None:
    digits = bytes_to_digits(data)
    assert digits.isdigit() or not data
    assert len(digits) == 17 * (len(data) // 7) + (0, 3, 5, 8, 10, 13, 15)[len(data) % 7]
    assert digits_to_bytes(digits) == data


@settings(max_examples=scaled(300), deadline=None)
@given(st.text(alphabet="0123456789", max_size=60))
def test_every_digit_string_is_canonical_or_refused(digits: str) -> None:
    """A digit string either is the one form of its bytes, or is refused (CRT-02)."""
    try:
        data = digits_to_bytes(digits)
    except CertificateError as exc:
        code = exc.code
    else:
        assert bytes_to_digits(data) == digits
        return
    assert code is ErrorCode.CRT_BAD_ENCODING


def test_lengths_that_are_no_form_are_refused() -> None:
    valid = {0, 3, 5, 8, 10, 13, 15}
    for n in range(70):
        if n % 17 in valid:
            assert len(digits_to_bytes("0" * n)) == 7 * (n // 17) + sorted(valid).index(n % 17)
        else:
            with pytest.raises(CertificateError) as info:
                digits_to_bytes("0" * n)
            assert info.value.code is ErrorCode.CRT_BAD_ENCODING


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("255", True),
        ("256", False),  # one byte holds at most 255
        ("65535", True),
        ("65536", False),
        (str(2**56 - 1).zfill(17), True),
        (str(2**56).zfill(17), False),  # seven bytes hold less than 2^56
        ("99999999999999999", False),
    ],
)
def test_group_worth_more_than_its_bytes_is_refused(digits: str, ok: bool) -> None:
    if ok:
        assert bytes_to_digits(digits_to_bytes(digits)) == digits
    else:
        with pytest.raises(CertificateError) as info:
            digits_to_bytes(digits)
        assert info.value.code is ErrorCode.CRT_BAD_ENCODING


@pytest.mark.parametrize("bad", ["12a45", "12 45", "١٢٣", "12%34", "+1234"])
def test_non_digits_in_the_form_are_refused(bad: str) -> None:
    with pytest.raises(CertificateError) as info:
        digits_to_bytes(bad)
    assert info.value.code is ErrorCode.CRT_BAD_ENCODING


# -- link texts --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> object:
    return issue(1)


def test_link_is_the_url_then_the_digit_form_of_the_plain_texts_bytes(small: object) -> None:
    from jura_trust.certificates.base45 import b45decode

    cert = small.certificates[0]  # type: ignore[attr-defined]
    link = cert.link(BASE)
    base, _, fragment = link.partition("#")
    assert base == BASE
    assert fragment[0] == "1"
    assert digits_to_bytes(fragment[1:]) == b45decode(cert.text()[4:])
    assert plain_text(link) == cert.text()
    assert link_text(cert.text(), BASE) == link
    assert is_link(link)
    assert not is_link(cert.text())


@pytest.mark.parametrize("self_contained", [False, True])
def test_link_verifies_like_the_plain_text(small: object, self_contained: bool) -> None:
    cert = small.certificates[0]  # type: ignore[attr-defined]
    plain = verify(cert.text(self_contained=self_contained), small)  # type: ignore[arg-type]
    link = verify(cert.link(BASE, self_contained=self_contained), small)  # type: ignore[arg-type]
    assert plain.ok
    assert link.ok, link.message
    assert dict(link.facts) == dict(plain.facts)
    decoded = decode_certificate(cert.link(BASE, self_contained=self_contained))
    assert decoded == decode_certificate(cert.text(self_contained=self_contained))


def test_link_base_is_not_trusted(small: object) -> None:
    """Any URL before '#' gives the same verdict; the URL is in no fact of the result."""
    cert = small.certificates[0]  # type: ignore[attr-defined]
    for base in (BASE, "HTTPS://QR.JURA.CH/", "http://evil.example/phish?x=1"):
        result = verify(cert.link(base), small)  # type: ignore[arg-type]
        assert result.ok
        assert "evil" not in repr(result.as_dict()) and "qr.jura" not in repr(result.as_dict())


def test_link_one_digit_substitutions_never_verify(small: object) -> None:
    """Issue 8's rule for link texts: every one-digit change of the certificate part is refused."""
    batch = issue(3)
    texts = [
        (small.certificates[0].link(BASE), small),  # type: ignore[attr-defined]
        (batch.certificates[1].link(BASE), batch),
    ]
    tl = trust_list()
    pub = backend().trusted_publications_file()
    for link, issued in texts:
        seals = registry(issued)  # type: ignore[arg-type]
        cache = SealCache()
        assert verify(link, issued).ok  # type: ignore[arg-type]
        start = link.index("#") + 1
        verified: list[tuple[int, str]] = []
        refused = 0
        for pos in range(start, len(link)):
            for digit in "0123456789":
                if digit == link[pos]:
                    continue
                changed = link[:pos] + digit + link[pos + 1 :]
                try:
                    result = verify_certificate(
                        changed,
                        trust_list=tl,
                        at=LATER,
                        seals=seals,
                        publications_file=pub,
                        seal_cache=cache,
                    )
                except CertificateError:
                    refused += 1
                    continue
                if result.ok:
                    verified.append((pos, digit))
        assert verified == []
        assert refused > 8 * (len(link) - start)


@pytest.mark.parametrize(
    ("link", "code"),
    [
        ("ftp://qr.jura.ch/#1000", ErrorCode.CRT_BAD_PREFIX),
        ("https://qr jura.ch/#1000", ErrorCode.CRT_BAD_PREFIX),
        ("https://qr.jura.ch/\u00e9#1000", ErrorCode.CRT_BAD_PREFIX),
        ("https://#1000", ErrorCode.CRT_BAD_PREFIX),
        ("https://qr.jura.ch/#2000", ErrorCode.CRT_BAD_PREFIX),  # unknown form version
        ("https://qr.jura.ch/#", ErrorCode.CRT_BAD_PREFIX),
        ("https://qr.jura.ch/#1#000", ErrorCode.CRT_BAD_ENCODING),
        ("https://qr.jura.ch/#10", ErrorCode.CRT_BAD_ENCODING),
        ("https://qr.jura.ch/#1000", ErrorCode.CRT_BAD_COMPRESSION),  # one zero byte
        ("https://qr.jura.ch/#1" + "0" * MAX_LINK_LENGTH, ErrorCode.CRT_TOO_LARGE),
    ],
)
def test_bad_links_are_refused_with_a_code(link: str, code: ErrorCode) -> None:
    with pytest.raises(CertificateError) as info:
        decode_certificate(link)
    assert info.value.code is code


@pytest.mark.parametrize("base", ["https://qr.jura.ch/#", "mailto:x@y", "https://a b", ""])
def test_bad_link_bases_are_refused_when_issuing(small: object, base: str) -> None:
    with pytest.raises(CertificateError) as info:
        small.certificates[0].link(base)  # type: ignore[attr-defined]
    assert info.value.code is ErrorCode.CRT_BAD_PREFIX


# -- in a QR code ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 64, 1000])
@pytest.mark.parametrize("self_contained", [False, True], ids=["compact", "self-contained"])
@pytest.mark.parametrize("base", [BASE, "HTTPS://QR.JURA.CH/"])
def test_link_code_stays_within_one_version_of_the_plain_code(
    size: int, self_contained: bool, base: str
) -> None:
    batch = issue(size)
    rng = random.Random(size)
    for cert in rng.sample(batch.certificates, min(size, 8)):
        plain = qr.qr_fit(cert.text(self_contained=self_contained))
        link = qr.qr_fit(cert.link(base, self_contained=self_contained))
        assert link.error == plain.error == "Q"
        # digits pack 8.1 bits a byte against Base45's 8.25: a long self-contained
        # link can even come out one version smaller than its plain code
        assert abs(link.version - plain.version) <= 1, (plain, link)


def test_link_code_is_a_url_segment_and_a_numeric_segment(small: object) -> None:
    link = small.certificates[0].link(BASE)  # type: ignore[attr-defined]
    assert qr.qr_segments(link) == ((BASE + "#", "byte"), (link.partition("#")[2], "numeric"))
    upper = small.certificates[0].link("HTTPS://QR.JURA.CH/")  # type: ignore[attr-defined]
    assert [mode for _, mode in qr.qr_segments(upper)] == ["alphanumeric", "byte", "numeric"]


def test_link_code_decodes_to_the_link(small: object) -> None:
    link = small.certificates[0].link(BASE)  # type: ignore[attr-defined]
    assert qr.read_qr(qr.encode_qr(link).png()) == [link]


def test_link_fragment_survives_urls_unlike_base45(small: object) -> None:
    """Base45 has ' ' and '%', which URLs mangle; the link's fragment is digits only."""
    from urllib.parse import quote, unquote, urlsplit

    cert = small.certificates[0]  # type: ignore[attr-defined]
    link = cert.link(BASE)
    fragment = urlsplit(link).fragment
    assert quote(fragment, safe="") == fragment == unquote(fragment)
    assert urlsplit(link)._replace(fragment="").geturl() + "#" + fragment == link
