"""Backdating through an extender response (issue 8, defect 1).

A signature really aggregated in second T1 is edited: the aggregation
chains' time fields say T0 < T1, and the calendar chain and auth record are
dropped. The aggregation root does not change (no time field is hashed), so
an extender response whose calendar chain honestly starts at T1 reaches the
publication from the same root. The time a calendar chain proves is the time
its shape encodes: every policy must refuse the forged signature, whether
the response comes from a recorded file or from a live extender, and
whether or not the response's (unauthenticated) time field is edited too.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from jura_trust import cli
from jura_trust._value import evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.chains import CalendarChain
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.pdu import ExtendRequestPDU, ExtendResponse, encode_extend_response, parse_pdu
from jura_trust.verify import verify_signature

T_START = 1_700_000_000
LOGIN, KEY = "liar", b"liar-secret"


@attrs.frozen
class Scene:
    backend: EmbeddedBackend
    honest: Signature  # signed at T1, without its calendar chain
    forged: Signature  # the same aggregation chains, time fields set to T0
    chain: CalendarChain  # the honest extension from T1 to the publication
    t0: int
    t1: int
    publication_time: int


def backdate(sig: Signature, t0: int) -> Signature:
    """The attacker's edit: new chain times, no calendar chain, no auth record."""
    return Signature.build([evolve(c, aggregation_time=t0) for c in sig.aggregation_chains])


@pytest.fixture
def scene() -> Scene:
    clock = ManualClock(T_START)
    backend = EmbeddedBackend(clock=clock)
    backend.sign(Imprint.hash(b"an earlier round"))
    backend.publish()  # the previous publication, before T0
    clock.advance(600)
    t1 = int(clock.now())
    signed = backend.sign(Imprint.hash(b"the real document"))
    clock.advance(3600)
    backend.sign(Imprint.hash(b"a later round"))
    publication = backend.publish()
    t0 = t1 - 300
    chain = backend.extend_calendar(t1, publication.publication_time)
    honest = Signature.build(signed.aggregation_chains)
    return Scene(backend, honest, backdate(signed, t0), chain, t0, t1, publication.publication_time)


def lying(chain: CalendarChain):
    """An extender that answers every request with ``chain``."""
    return lambda _aggregation_time, _publication_time: chain


@pytest.mark.parametrize("policy", ["publications-file", "general"])
def test_backdating_through_extender_response_publications_file(scene: Scene, policy: str):
    pubfile = scene.backend.trusted_publications_file()
    honest = verify_signature(
        scene.honest,
        policy=policy,
        publications_file=pubfile,
        extending_allowed=True,
        extender=lying(scene.chain),
    )
    assert honest.outcome is Outcome.OK, honest
    assert honest.aggregation_time == scene.t1
    assert honest.anchor.kind == "publication"
    for chain in (scene.chain, evolve(scene.chain, aggregation_time_field=scene.t0)):
        forged = verify_signature(
            scene.forged,
            policy=policy,
            publications_file=pubfile,
            extending_allowed=True,
            extender=lying(chain),
        )
        assert (forged.outcome, forged.code) == (Outcome.FAIL, ErrorCode.PUB_02), forged
        assert forged.steps[-1].rule == "extended_signing_time"
        assert forged.aggregation_time is None
        assert forged.anchor.kind == "none"


def test_backdating_through_extender_response_user_publication(scene: Scene):
    publication = scene.backend.find_publication(scene.publication_time)
    assert publication is not None
    # the response's unauthenticated aggregation-time field edited to T0 too
    edited = evolve(scene.chain, aggregation_time_field=scene.t0)
    for chain in (scene.chain, edited):
        for policy in ("user-publication", "general"):
            result = verify_signature(
                scene.forged,
                policy=policy,
                user_publication=publication.published_data,
                extending_allowed=True,
                extender=lying(chain),
            )
            assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.PUB_02), result


def test_backdating_through_extender_response_calendar_policy(scene: Scene):
    edited = evolve(scene.chain, aggregation_time_field=scene.t0)
    for chain in (scene.chain, edited):
        result = verify_signature(
            scene.forged, policy="calendar", extending_allowed=True, extender=lying(chain)
        )
        assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.CAL_03), result
    honest = verify_signature(scene.honest, policy="calendar", extender=lying(scene.chain))
    assert honest.outcome is Outcome.OK
    assert honest.anchor.kind == "extender"


def test_backdated_signature_is_never_extended(scene: Scene, monkeypatch: pytest.MonkeyPatch):
    """``extend`` refuses to write a backdated signature, from an honest or a lying calendar."""
    with pytest.raises(BackendError, match="input differs") as info:
        scene.backend.extend(scene.forged, scene.publication_time)
    assert info.value.code is ErrorCode.SVC_EXTEND
    monkeypatch.setattr(scene.backend, "extend_calendar", lying(scene.chain))
    with pytest.raises(BackendError, match="another signing time") as info:
        scene.backend.extend(scene.forged, scene.publication_time)
    assert info.value.code is ErrorCode.SVC_EXTEND
    assert scene.backend.extend(scene.honest, scene.publication_time).publication_record


# -- through the command line: a recorded response and a live extender ------------------


@pytest.fixture
def home_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Scene, Path]:
    clock = ManualClock(T_START)
    home = tmp_path / "home"
    monkeypatch.setattr(
        cli, "EmbeddedBackend", lambda h, **kw: EmbeddedBackend(h, clock=clock, **kw)
    )
    with EmbeddedBackend(home, clock=clock) as backend:
        backend.sign(Imprint.hash(b"an earlier round"))
        backend.publish()
        clock.advance(600)
        t1 = int(clock.now())
        signed = backend.sign(Imprint.hash(b"the real document"))
        clock.advance(3600)
        backend.sign(Imprint.hash(b"a later round"))
        publication = backend.publish()
        chain = backend.extend_calendar(t1, publication.publication_time)
        scene = Scene(
            backend,
            Signature.build(signed.aggregation_chains),
            backdate(signed, t1 - 300),
            chain,
            t1 - 300,
            t1,
            publication.publication_time,
        )
    return scene, home


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr().out


def test_backdating_through_recorded_extender_response_cli(
    home_scene: tuple[Scene, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    scene, home = home_scene
    forged = tmp_path / "forged.ksig"
    forged.write_bytes(scene.forged.encode())
    honest = tmp_path / "honest.ksig"
    honest.write_bytes(scene.honest.encode())
    for field in (None, scene.t0):
        chain = evolve(scene.chain, aggregation_time_field=field)
        response = tmp_path / "response.tlv"
        response.write_bytes(
            encode_extend_response(ExtendResponse(1, calendar_chain=chain), login_id=LOGIN, key=KEY)
        )
        for policy in ("publications-file", "general"):
            common = ["--home", home, "--policy", policy, "--extending-allowed"]
            common += ["--extender-response", response, "--json"]
            rc, out = run_cli(capsys, "verify", forged, *common)
            assert rc == 1, out
            assert json.loads(out)["code"] == "PUB-02"
            if field is None:
                rc, out = run_cli(capsys, "verify", honest, *common)
                assert rc == 0, out


class LyingExtender:
    """A live KSI extender on loopback that answers with one fixed chain."""

    def __init__(self, chain: CalendarChain) -> None:
        liar = self
        self.chain = chain

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = parse_pdu(body)
                assert isinstance(request, ExtendRequestPDU)
                answer = encode_extend_response(
                    [
                        ExtendResponse(r.request_id, calendar_chain=liar.chain)
                        for r in request.requests
                    ],
                    login_id=LOGIN,
                    key=KEY,
                    instance_id=request.header.instance_id,
                    message_id=request.header.message_id,
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/extender"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def liar(home_scene: tuple[Scene, Path]) -> Iterator[LyingExtender]:
    server = LyingExtender(home_scene[0].chain)
    yield server
    server.close()


def test_backdating_through_live_extender_cli(
    home_scene: tuple[Scene, Path],
    liar: LyingExtender,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
):
    scene, home = home_scene
    forged = tmp_path / "forged.ksig"
    forged.write_bytes(scene.forged.encode())
    for field in (scene.t1, None, scene.t0):
        liar.chain = evolve(scene.chain, aggregation_time_field=field)
        for policy in ("publications-file", "general", "calendar"):
            rc, out = run_cli(
                capsys,
                "verify",
                forged,
                "--home",
                home,
                "--policy",
                policy,
                "--extending-allowed",
                "--extender",
                liar.url,
                "--login",
                LOGIN,
                "--key",
                KEY.decode(),
                "--json",
            )
            # The client refuses a chain whose time field or shape is not the
            # requested second (NA: the extender failed); the policies refuse
            # whatever reaches them (FAIL). Never OK.
            result = json.loads(out)
            assert rc in (1, 2), out
            assert result["outcome"] in ("NA", "FAIL")
            assert result["anchor"]["kind"] == "none"
