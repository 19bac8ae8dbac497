"""The policy expectations MANIFEST.md gives for the curated vectors."""

import pytest

from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import decode_publication_string
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, Outcome
from jura_trust.pdu import recorded_extender
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.verify import VerificationResult, verify_signature
from tests.vectors import ksi_bytes, trusted_pubfile

OLD_FILE = trusted_pubfile("pubfiles/publications.tlv")
NEW_FILE = trusted_pubfile("pubfiles/publications-file.bin")
RESIGNED = trusted_pubfile("pubfiles/publications-file-resigned.bin")
OK_EXT = ksi_bytes("pdus/ok-sig-2014-04-30.1-extend_response.tlv")
NOK_EXT = ksi_bytes("pdus/ok-sig-2014-04-30.1-nok-extend_response-1.tlv")
LAPTOP = Imprint.hash(b"LAPTOP")


def sig(name: str) -> Signature:
    return Signature.from_bytes(ksi_bytes(f"signatures/{name}"))


def check(result: VerificationResult, outcome: Outcome, code: ErrorCode | None = None) -> None:
    assert result.outcome is outcome, result
    assert result.code is code, result


@pytest.mark.parametrize(
    ("name", "pubfile"),
    [
        ("valid/ok-sig-2014-04-30.1.ksig", OLD_FILE),
        ("valid/ok-legacy-sig-2014-06.gtts.ksig", OLD_FILE),
        ("valid/ok-sig-2015-09-13_21-34-00.ksig", OLD_FILE),
        ("valid/ok-sig-2017-04-21.1-input-hash-level-5.ksig", OLD_FILE),
        ("valid/signature-one-aggregation-chain-chc-and-auth.ksig", NEW_FILE),
        ("valid/signature-one-aggregation-chain-chc-and-auth.ksig", RESIGNED),
        ("valid/rfc3161-signature.ksig", NEW_FILE),
        ("valid/signature-non-critical-element-in-aggregation-chain.ksig", NEW_FILE),
    ],
)
def test_key_based_ok(name, pubfile):
    check(verify_signature(sig(name), policy="key", publications_file=pubfile), Outcome.OK)


def test_laptop_document():
    s = sig("valid/ok-sig-2014-04-30.1.ksig")
    check(
        verify_signature(s, policy="key", publications_file=OLD_FILE, document_hash=LAPTOP),
        Outcome.OK,
    )
    wrong = Imprint.from_bytes(bytes.fromhex("01db27c0") + bytes(29))
    check(
        verify_signature(s, policy="general", publications_file=OLD_FILE, document_hash=wrong),
        Outcome.FAIL,
        ErrorCode.GEN_01,
    )


def test_legacy_document_and_trailing_nul():
    s = sig("valid/ok-legacy-sig-2014-06.gtts.ksig")
    doc = b"This is a test data file.\r\n"
    check(verify_signature(s, policy="internal", document_hash=Imprint.hash(doc)), Outcome.OK)
    check(
        verify_signature(s, policy="internal", document_hash=Imprint.hash(doc + b"\x00")),
        Outcome.FAIL,
        ErrorCode.GEN_01,
    )


def test_input_level():
    s = sig("valid/ok-sig-2017-04-21.1-input-hash-level-5.ksig")
    check(verify_signature(s, policy="internal", input_level=5), Outcome.OK)
    check(verify_signature(s, policy="internal", input_level=6), Outcome.FAIL, ErrorCode.GEN_03)


def test_wrong_document_hash_algorithm():
    s = sig("valid/ok-sig-2014-04-30.1.ksig")
    sha3 = Imprint.hash(
        b"LAPTOP",
        Imprint.hash(
            b"",
        ).algorithm.from_name("SHA3-256"),
    )
    check(
        verify_signature(s, policy="internal", document_hash=sha3), Outcome.FAIL, ErrorCode.GEN_04
    )


def test_extended_signature_offline_and_with_strings():
    s = sig("valid/ok-sig-2014-04-30.1-extended.ksig")
    check(verify_signature(s, policy="publications-file", publications_file=OLD_FILE), Outcome.OK)
    user = decode_publication_string(
        "AAAAAA-CTOQBY-AAMJYH-XZPM6T-UO6U6V-2WJMHQ-EJMVXR-JEAGID-2OY7P5-XFFKYI-QIF2LG-YOV7SO"
    )
    check(verify_signature(s, policy="user-publication", user_publication=user), Outcome.OK)
    check(verify_signature(s, policy="general", user_publication=user), Outcome.OK)
    ok = recorded_extender(OK_EXT, hmac_key=b"anon")
    nok = recorded_extender(NOK_EXT, hmac_key=b"anon")
    check(verify_signature(s, policy="calendar", extender=ok), Outcome.OK)
    check(verify_signature(s, policy="calendar", extender=nok), Outcome.FAIL, ErrorCode.CAL_01)


def test_calendar_only_extension():
    s = sig("valid/ok-sig-2014-04-30.1-extended_1400112000.ksig")
    check(verify_signature(s, policy="internal"), Outcome.OK)
    check(
        verify_signature(s, policy="key", publications_file=OLD_FILE), Outcome.NA, ErrorCode.GEN_02
    )
    check(
        verify_signature(s, policy="publications-file", publications_file=OLD_FILE),
        Outcome.NA,
        ErrorCode.GEN_02,
    )
    ok = recorded_extender(OK_EXT, hmac_key=b"anon")
    nok = recorded_extender(NOK_EXT, hmac_key=b"anon")
    check(
        verify_signature(
            s,
            policy="publications-file",
            publications_file=OLD_FILE,
            extending_allowed=True,
            extender=ok,
        ),
        Outcome.OK,
    )
    check(
        verify_signature(
            s,
            policy="publications-file",
            publications_file=OLD_FILE,
            extending_allowed=True,
            extender=nok,
        ),
        Outcome.FAIL,
        ErrorCode.PUB_01,
    )
    check(verify_signature(s, policy="calendar", extender=ok), Outcome.OK)


def test_right_link_mismatch_is_cal04():
    s = sig("valid/ok-sig-2014-04-30.1.ksig")
    nok = recorded_extender(NOK_EXT, hmac_key=b"anon")
    # the recorded chain is to 1400112000; the signature's is to 1398902400:
    # extending to the signature's own publication time returns the recording
    result = verify_signature(s, policy="calendar", extender=nok)
    assert result.outcome is Outcome.FAIL
    assert result.code in (ErrorCode.CAL_04, ErrorCode.CAL_02, ErrorCode.CAL_03)


def test_2024_publication_file_and_string():
    s = sig("valid/rfc3161-signature-extended-for-publication-file-based-verification.ksig")
    for pubfile in (NEW_FILE, RESIGNED):
        check(
            verify_signature(s, policy="publications-file", publications_file=pubfile), Outcome.OK
        )
    user = decode_publication_string(
        "AAAAAA-DF6OHY-AAMWLC-WDLI7J-V6IP4V-JYT32Y-PFSQ54-KPUL3V-JCHMEN-VGPL3R-AQYKHA-54JPLO"
    )
    check(verify_signature(s, policy="user-publication", user_publication=user), Outcome.OK)


def test_head_publication_not_in_file():
    s = sig("valid/signature-extended.ksig")
    user = decode_publication_string(
        "AAAAAA-DF6NWU-2ANERL-ZQKP5E-WEEQEF-JT76EI-HLTKXG-FQKRZC-ZJJV4E-LAJNHZ-2WY22Z-C3V2JA"
    )
    check(verify_signature(s, policy="user-publication", user_publication=user), Outcome.OK)
    check(
        verify_signature(s, policy="publications-file", publications_file=NEW_FILE),
        Outcome.NA,
        ErrorCode.GEN_02,
    )


def test_key_failures():
    s = sig("invalid/signature-cal-auth-wrong-signing-value.ksig")
    check(verify_signature(s, policy="internal"), Outcome.OK)
    check(
        verify_signature(s, policy="key", publications_file=OLD_FILE),
        Outcome.FAIL,
        ErrorCode.KEY_02,
    )
    check(
        verify_signature(s, policy="general", publications_file=OLD_FILE),
        Outcome.FAIL,
        ErrorCode.KEY_02,
    )
    s = sig("invalid/policy-verification-signature-aggregation-time-after-cert-time-KEY-03.ksig")
    check(verify_signature(s, policy="internal"), Outcome.OK)
    for pubfile in (NEW_FILE, RESIGNED):
        check(
            verify_signature(s, policy="key", publications_file=pubfile),
            Outcome.FAIL,
            ErrorCode.KEY_03,
        )


def test_general_falls_back_to_key_when_file_is_inconclusive():
    s = sig("valid/ok-sig-2014-04-30.1.ksig")
    result = verify_signature(s, policy="general", publications_file=OLD_FILE)
    check(result, Outcome.OK)
    assert any(step.rule == "calendar_auth_signature" for step in result.steps)


def test_no_publications_file_is_na():
    s = sig("valid/ok-sig-2014-04-30.1.ksig")
    check(verify_signature(s, policy="key"), Outcome.NA, ErrorCode.GEN_02)
    check(verify_signature(s, policy="publications-file"), Outcome.NA, ErrorCode.GEN_02)
    check(verify_signature(s, policy="general"), Outcome.NA, ErrorCode.GEN_02)


def test_result_is_not_a_boolean():
    result = verify_signature(sig("valid/ok-sig-2014-04-30.1.ksig"), policy="internal")
    with pytest.raises(TypeError):
        bool(result)
    assert result.ok
    assert result.as_dict()["outcome"] == "OK"


def test_an_unchecked_file_is_never_trusted_by_accident():
    parsed = PublicationsFile.parse(ksi_bytes("pubfiles/publications.tlv"))
    s = sig("valid/ok-sig-2014-04-30.1.ksig")
    with pytest.raises(TypeError, match="VerifiedPublicationsFile"):
        verify_signature(s, policy="key", publications_file=parsed)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="why"):
        VerifiedPublicationsFile.unchecked(parsed, " ")
    explicit = VerifiedPublicationsFile.unchecked(parsed, "trusted out of band")
    assert not explicit.checked
    assert OLD_FILE.checked  # verified against mock.crt with the e-mail constraint
    check(verify_signature(s, policy="key", publications_file=explicit), Outcome.OK)
