"""The public pages' rate limit: a sliding window per key, bounded memory."""

from __future__ import annotations

import pytest

from guanxi.web.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_refused_past_the_limit_until_the_window_moves_on() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60.0, clock=clock)
    assert [limiter.allow("1.2.3.4") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("5.6.7.8")  # another address is not affected
    assert limiter.retry_after("1.2.3.4") == 60
    clock.now += 30
    assert not limiter.allow("1.2.3.4") and limiter.retry_after("1.2.3.4") == 30
    clock.now += 30.5
    assert limiter.allow("1.2.3.4") and limiter.retry_after("5.6.7.8") == 0


def test_the_table_of_keys_is_bounded() -> None:
    limiter = RateLimiter(1, 60.0, max_keys=100, clock=Clock())
    for n in range(1000):
        assert limiter.allow(f"k{n}")
    assert len(limiter._hits) == 100
    assert limiter.allow("k0")  # forgotten: allowed again


def test_a_nonsense_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60.0)
