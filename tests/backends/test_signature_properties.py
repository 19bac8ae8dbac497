"""Property: every signature the embedded backend issues round-trips byte for byte and verifies."""

from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust import EmbeddedBackend, HashAlgorithm, Imprint, ManualClock
from jura_trust.core.signature import Signature
from jura_trust.verify import verify_signature
from tests.budget import scaled

ALGORITHMS = [a for a in HashAlgorithm if a.trusted and a is not HashAlgorithm.SM3]


@settings(max_examples=scaled(25))
@given(
    st.lists(
        st.tuples(st.binary(max_size=40), st.sampled_from(ALGORITHMS)), min_size=1, max_size=40
    ),
    st.integers(0, 5),
    st.integers(1_000_000_000, 2_000_000_000),
    st.sampled_from([HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512, HashAlgorithm.SHA3_256]),
)
def test_issued_signatures_round_trip_and_verify(docs, level, start, aggregation_algorithm):
    backend = EmbeddedBackend(clock=ManualClock(start), algorithm=aggregation_algorithm)
    try:
        imprints = [Imprint.hash(data, alg) for data, alg in docs]
        signatures = backend.sign_many(imprints, level=level)
        pubfile = backend.trusted_publications_file()
        for imprint, sig in zip(imprints, signatures, strict=True):
            data = sig.encode()
            again = Signature.from_bytes(data)
            assert again.encode() == data
            assert again == sig
            assert again.aggregation_time == start
            result = verify_signature(
                again, policy="key", publications_file=pubfile, document_hash=imprint,
                input_level=level,
            )  # fmt: skip
            assert result.ok, result
    finally:
        backend.close()
