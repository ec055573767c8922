from __future__ import annotations

from services.cache.invalidations import InvalidationLog


def test_a_key_invalidated_after_the_mark_is_reported() -> None:
    log = InvalidationLog()
    mark = log.mark()
    log.record(["a"])
    assert log.invalidated_since("a", mark)
    assert not log.invalidated_since("b", mark)
    assert not log.invalidated_since("a", log.mark())


def test_once_records_are_dropped_older_marks_count_as_stale() -> None:
    log = InvalidationLog(capacity=2)
    old = log.mark()
    log.record(["a", "b", "c"])  # "a" is dropped
    assert log.invalidated_since("z", old)  # cannot prove "z" was untouched since then
    recent = log.mark()
    assert not log.invalidated_since("z", recent)
