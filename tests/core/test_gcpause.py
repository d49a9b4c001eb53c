"""The cyclic collector is paused inside the block and restored after it, also on errors and when nested."""

from __future__ import annotations

import gc

import pytest

from churnops.core import gcpause


def test_the_collector_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves the outer one's pause alone
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gcpause.paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_a_decorated_function_runs_paused_and_a_disabled_collector_stays_disabled() -> None:
    @gcpause.paused()
    def inside() -> bool:
        return gc.isenabled()

    assert inside() is False and gc.isenabled()
    gc.disable()
    try:
        inside()
        assert not gc.isenabled()
    finally:
        gc.enable()
