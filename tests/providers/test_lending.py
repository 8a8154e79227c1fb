"""The lending pool: an SDK client that is not thread-safe is used by one call at a time."""

from __future__ import annotations

import itertools
import threading

import pytest

from genai_platform.providers.lending import LendingPool


def counting_pool(**kwargs) -> LendingPool[int]:
    numbers = itertools.count(1)
    return LendingPool(lambda: next(numbers), **kwargs)


def test_an_object_is_never_lent_to_two_callers_at_once():
    pool = counting_pool()

    with pool.borrowed() as first, pool.borrowed() as second:
        assert first != second


def test_a_returned_object_is_lent_again_rather_than_a_new_one_built():
    pool = counting_pool()
    with pool.borrowed() as first:
        pass

    with pool.borrowed() as again:
        assert again == first
    assert pool.created == 1


def test_the_first_object_given_is_lent_before_any_is_built():
    pool = counting_pool(first=0)

    with pool.borrowed() as lent:
        assert lent == 0
    assert pool.created == 1


def test_an_object_comes_back_when_the_borrower_fails():
    pool = counting_pool()
    with pytest.raises(RuntimeError), pool.borrowed():
        raise RuntimeError("the call failed")

    with pool.borrowed() as again:
        assert again == 1


def test_threads_borrowing_at_once_each_hold_their_own_object():
    pool = counting_pool()
    holding = threading.Barrier(8, timeout=10)
    held: list[int] = []
    lock = threading.Lock()

    def borrow() -> None:
        with pool.borrowed() as item:
            with lock:
                held.append(item)
            holding.wait()  # all eight hold an object at the same moment

    threads = [threading.Thread(target=borrow) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(held) == list(range(1, 9))
    assert pool.created == 8
