"""The default retry schedule: growing delays, jitter that only lengthens them, and more than a day
from the first attempt to the last, whatever the jitter draws."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from application.webhook_retries import DEFAULT_RETRY_DELAYS, JITTER, next_delay
from infrastructure.settings import Settings

DAY = 86400


@given(st.lists(st.floats(0, 1, exclude_max=True), min_size=len(DEFAULT_RETRY_DELAYS),
                max_size=len(DEFAULT_RETRY_DELAYS)))
def test_the_retries_span_more_than_a_day_with_growing_delays(draws: list[float]) -> None:
    delays = [next_delay(n, DEFAULT_RETRY_DELAYS, lambda d=d: d) for n, d in enumerate(draws, start=1)]
    assert all(delay is not None for delay in delays)
    assert sum(delays) > DAY
    for n, delay in enumerate(delays):
        assert DEFAULT_RETRY_DELAYS[n] <= delay <= DEFAULT_RETRY_DELAYS[n] * (1 + JITTER)
    assert list(DEFAULT_RETRY_DELAYS) == sorted(DEFAULT_RETRY_DELAYS)
    assert next_delay(len(DEFAULT_RETRY_DELAYS) + 1, DEFAULT_RETRY_DELAYS) is None  # then it is given up


def test_the_schedule_is_a_setting(monkeypatch) -> None:
    assert Settings().webhooks_retry_delays == DEFAULT_RETRY_DELAYS
    monkeypatch.setenv("OMS_WEBHOOKS_RETRY_DELAYS", "[1, 2.5]")
    assert Settings().webhooks_retry_delays == (1, 2.5)
