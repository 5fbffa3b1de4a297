"""The bench's meters and its output: what they report adds up (no timings are asserted: these run on a
shared machine), and no run overwrites another's figures."""
from __future__ import annotations

import time

from bench import bursts
from bench.cpu import CpuMeter, _machine


def test_the_machine_s_stolen_time_is_part_of_its_busy_time() -> None:
    busy, total, stolen = _machine()
    assert 0 <= stolen <= busy <= total


def test_the_meter_reports_stolen_time_apart_from_the_machine_s_busy_time() -> None:
    with CpuMeter() as meter:
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:
            pass
    per_request = meter.per_request(10)
    assert per_request["machine_ms"] > 0
    # each figure is rounded to 3 places on its own
    assert abs(per_request["machine_without_steal_ms"] - (per_request["machine_ms"] - per_request["steal_ms"])) <= 0.002
    assert 0 <= per_request["steal_pct_of_all_cores"] <= per_request["machine_busy_pct_of_all_cores"]
    assert "steal_pct_of_a_core" not in per_request


def test_the_burst_measure_compares_every_pause_with_back_to_back() -> None:
    result = bursts.measure(sizes=(1,), pauses=(0.0, 0.0005), rounds=1)
    cells = result["1_round_trips"]
    assert set(cells) == {"pause_0_ms", "pause_0.5_ms"}
    assert cells["pause_0_ms"]["vs_back_to_back"] == 1.0
    assert all(cell["cpu_us_per_piece"] > 0 for cell in cells.values())


def test_a_day_s_later_runs_are_written_beside_its_first_not_over_it(tmp_path) -> None:  # noqa: ANN001
    from bench.output import results_path

    first = results_path("2026-12-02", tmp_path)
    assert first.name == "2026-12-02.json"
    first.write_text("{}")
    second = results_path("2026-12-02", tmp_path)
    assert second.name == "2026-12-02-2.json"
    second.write_text("{}")
    assert results_path("2026-12-02", tmp_path).name == "2026-12-02-3.json"


def test_the_wake_up_round_trip_is_timed() -> None:
    trip = bursts.wake_up_round_trip(round_trips=200)
    assert trip["wall_us_per_round_trip"] > 0 and trip["this_side_cpu_us_per_round_trip"] >= 0
