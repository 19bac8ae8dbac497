"""The home's locks (jura_trust.backends.home): who may write a home, and when."""

from __future__ import annotations

import threading

import pytest

from jura_trust.backends.base import ManualClock
from jura_trust.backends.home import (
    SERVICE_LOCK,
    StateLock,
    lock_for_service,
    lock_for_writer,
)
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode

T0 = 1_700_000_000


def test_writers_share_a_home_and_exclude_a_service(tmp_path):
    first = lock_for_writer(tmp_path)
    second = lock_for_writer(tmp_path)
    with pytest.raises(BackendError) as info:
        lock_for_service(tmp_path)
    assert info.value.code is ErrorCode.SVC_HOME_LOCKED
    assert SERVICE_LOCK in info.value.message
    first.release()
    second.release()
    second.release()  # idempotent
    with lock_for_service(tmp_path) as service:
        assert service.exclusive and service.held
        with pytest.raises(BackendError) as info:
            lock_for_writer(tmp_path)
        assert info.value.code is ErrorCode.SVC_HOME_LOCKED
        assert str(tmp_path / SERVICE_LOCK) in info.value.message
    assert not service.held
    lock_for_writer(tmp_path).release()


def test_an_embedded_backend_holds_its_home_until_closed(tmp_path):
    backend = EmbeddedBackend(tmp_path, clock=ManualClock(T0))
    with pytest.raises(BackendError) as info:
        lock_for_service(tmp_path)
    assert info.value.code is ErrorCode.SVC_HOME_LOCKED
    backend.close()
    lock_for_service(tmp_path).release()


def test_an_embedded_backend_is_refused_a_home_a_service_holds(tmp_path):
    EmbeddedBackend(tmp_path, clock=ManualClock(T0)).close()  # state exists
    with lock_for_service(tmp_path) as held:
        with pytest.raises(BackendError) as info:
            EmbeddedBackend(tmp_path, clock=ManualClock(T0))
        assert info.value.code is ErrorCode.SVC_HOME_LOCKED
        # a read-only backend needs no lock
        with EmbeddedBackend(tmp_path, create=False) as reader:
            assert reader.calendar_head is None
            with pytest.raises(BackendError) as info:
                reader.sign(Imprint.hash(b"x"))
            assert info.value.code is ErrorCode.SVC_REFUSED
        # the service hands its own lock to its backend
        with EmbeddedBackend(tmp_path, clock=ManualClock(T0), home_lock=held) as backend:
            backend.sign(Imprint.hash(b"x"))


def test_state_lock_is_reentrant_and_excludes_another_holder(tmp_path):
    a, b = StateLock(tmp_path), StateLock(tmp_path)
    order: list[str] = []
    with a.held():
        with a.held():
            order.append("a")
        waiter = threading.Thread(target=lambda: _hold(b, order))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # b waits while a holds the lock
        order.append("a released")
    waiter.join(10)
    assert order == ["a", "a released", "b"]
    a.close()
    b.close()


def _hold(lock: StateLock, order: list[str]) -> None:
    with lock.held():
        order.append("b")


def test_two_backends_on_one_home_take_consecutive_seconds(tmp_path):
    clock = ManualClock(T0)
    one = EmbeddedBackend(tmp_path, clock=clock)
    two = EmbeddedBackend(tmp_path, clock=clock)
    try:
        assert one.calendar_certificate == two.calendar_certificate  # created once
        s1 = one.sign(Imprint.hash(b"1"))
        s2 = two.sign(Imprint.hash(b"2"))  # two's view of the head was stale
        s3 = one.sign(Imprint.hash(b"3"))
        assert [s.aggregation_time for s in (s1, s2, s3)] == [T0, T0 + 1, T0 + 2]
        one.publish()
        # two sees one's publication when it extends, and publishes after it
        assert two.extend(s1).publication_record is not None
        assert two.publish().publication_time == T0 + 2
    finally:
        one.close()
        two.close()
