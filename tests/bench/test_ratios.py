"""The numbers the benchmark READMEs publish: medians, ratios, overheads over a floor, verdicts.

Every expected value is worked out by hand from the inputs next to it (bench/README.md says what
each number means); none is read back from the code under test.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_module(name):
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def h():
    yield from _bench_module("_harness")


@pytest.fixture(scope="module")
def shared():
    yield from _bench_module("_shared")


@pytest.fixture(scope="module")
def db():
    yield from _bench_module("db_bench")


@pytest.fixture(scope="module")
def fuzz():
    yield from _bench_module("fuzz_bench")


@pytest.fixture(scope="module")
def vt():
    yield from _bench_module("virtual_time")


def _summary(h, wall, cpu, cpu_spread=0.0):
    return h.Summary(wall=wall, cpu=cpu, wall_spread=0.0, cpu_spread=cpu_spread, n=1)


def _samples(h, *cpus, wall=None):
    """One sample per round; ``cpu`` all user time, ``wall`` the same as CPU unless given."""
    walls = wall or cpus
    return [h.Sample(r, 0, w, c, 0.0) for r, (w, c) in enumerate(zip(walls, cpus, strict=True))]


def _config(h, key, label=None, expected=1000):
    return h.Config(
        key=key,
        label=label or key,
        group=key.split("/")[0],
        venv="v",
        suite_dir=Path("."),
        args=(),
        expected=expected,
    )


def _row(text, label):
    """The cells of the table row that starts with ``label`` (cells are 2+ spaces apart)."""
    for line in text.splitlines():
        if line.startswith(label + "  ") or line == label:
            return re.split(r"\s{2,}", line.strip())
    raise AssertionError(f"no row {label!r} in:\n{text}")


# -- medians and spreads ----------------------------------------------------------------------


def test_summary_of_an_odd_number_of_samples_takes_the_middle_one(h):
    samples = [
        h.Sample(0, 0, wall=4.0, user=0.5, sys=0.25),  # CPU 0.75
        h.Sample(1, 1, wall=1.0, user=1.5, sys=0.25),  # CPU 1.75
        h.Sample(2, 2, wall=2.0, user=1.0, sys=0.5),  # CPU 1.5
    ]
    s = h.Summary.of(samples)
    assert s.wall == 2.0  # the middle one, not the mean (7/3)
    assert s.cpu == 1.5  # user + sys, not user alone (that would give 1.0)
    assert s.wall_spread == 1.5  # (4 - 1) / 2
    assert s.cpu_spread == pytest.approx(2 / 3)  # (1.75 - 0.75) / 1.5
    assert s.n == 3


def test_summary_of_an_even_number_of_samples_averages_the_middle_two(h):
    samples = [
        h.Sample(r, 0, wall=w, user=c, sys=0.0)
        for r, (w, c) in enumerate([(8.0, 2.0), (1.0, 1.0), (2.0, 4.0), (3.0, 8.0)])
    ]
    s = h.Summary.of(samples)
    assert s.wall == 2.5  # (2 + 3) / 2, not the mean (3.5)
    assert s.cpu == 3.0  # (2 + 4) / 2
    assert s.wall_spread == pytest.approx(2.8)  # (8 - 1) / 2.5
    assert s.cpu_spread == pytest.approx(7 / 3)  # (8 - 1) / 3
    assert s.n == 4


def test_summary_spread_of_a_zero_median_is_zero_not_an_error(h):
    s = h.Summary.of([h.Sample(0, 0, 0.0, 0.0, 0.0), h.Sample(1, 0, 0.0, 0.0, 0.0)])
    assert (s.wall, s.cpu, s.wall_spread, s.cpu_spread) == (0.0, 0.0, 0.0, 0.0)


def test_paired_median_is_the_median_of_the_per_round_ratios_not_a_ratio_of_medians(h):
    a = _samples(h, 2.0, 3.0, 4.0)
    b = _samples(h, 1.0, 6.0, 2.0)
    # Per round: 2/1 = 2, 3/6 = 0.5, 4/2 = 2 -> median 2; medians over medians would be 3/2.
    assert h.paired_median(a, b, "cpu") == 2.0


def test_paired_median_of_an_even_number_of_rounds_averages_the_middle_two(h):
    a = _samples(h, 2.0, 3.0, 1.0, 4.0)
    b = _samples(h, 1.0, 2.0, 2.0, 4.0)
    # Per round: 2, 1.5, 0.5, 1 -> sorted 0.5, 1, 1.5, 2 -> (1 + 1.5) / 2
    assert h.paired_median(a, b, "cpu") == 1.25


def test_paired_median_pairs_by_round_and_skips_rounds_the_other_side_lacks(h):
    a = _samples(h, 8.0, 3.0, 100.0)  # round 2 has no partner below
    b = list(reversed(_samples(h, 2.0, 1.0)))  # given out of order: matched by round
    # Round 0: 8/2 = 4; round 1: 3/1 = 3 -> median 3.5
    assert h.paired_median(a, b, "cpu") == 3.5


def test_paired_median_reads_the_metric_it_is_given(h):
    a = _samples(h, 1.0, 1.0, wall=[6.0, 9.0])
    b = _samples(h, 1.0, 1.0, wall=[2.0, 3.0])
    assert h.paired_median(a, b, "wall") == 3.0
    assert h.paired_median(a, b, "cpu") == 1.0


def test_percentile_is_a_sample_at_rank_int_fraction_times_n(h):
    assert h.percentile([7, 2, 9, 0, 4, 1, 8, 3, 6, 5], 0.9) == 9  # 10 samples: index 9, the max
    assert h.percentile(list(range(11)), 0.9) == 9  # int(9.9) = 9
    assert h.percentile(list(range(20)), 0.9) == 18  # int(18.0) = 18
    assert h.percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 3.0  # a sample, not the median 2.5
    assert h.percentile([5.0], 0.9) == 5.0
    assert h.percentile([1.0, 2.0], 1.0) == 2.0  # clamped to the last sample


# -- ratios, overhead over the floor, verdicts ------------------------------------------------


@pytest.fixture
def runs(h):
    """A floor, a tool and pytest-asyncio, in one group."""
    return {
        "g/floor": _summary(h, wall=2.0, cpu=1.0),
        "g/tool": _summary(h, wall=3.0, cpu=2.5),
        "g/pa": _summary(h, wall=4.0, cpu=3.0),
        "g/fast": _summary(h, wall=1.0, cpu=0.5),  # below the floor
    }


def test_ratio_value_is_numerator_over_denominator_of_the_metric(h, runs):
    ratio = h.Ratio("tool / pa", "g/tool", "g/pa")
    assert ratio.value(runs) == pytest.approx(2.5 / 3.0)  # cpu by default
    assert ratio.value(runs, "wall") == 0.75
    assert h.Ratio("x", "g/tool", "g/pa", metric="wall").value(runs) == 0.75


def test_ratio_over_floor_divides_the_overheads_above_the_floor(h, runs):
    ratio = h.Ratio("tool / pa", "g/tool", "g/pa", floor="g/floor")
    assert ratio.over_floor(runs) == 0.75  # (2.5 - 1) / (3 - 1)
    assert ratio.over_floor(runs, "wall") == 0.5  # (3 - 2) / (4 - 2)


def test_ratio_over_floor_without_a_floor_is_none(h, runs):
    assert h.Ratio("tool / pa", "g/tool", "g/pa").over_floor(runs) is None


def test_ratio_over_floor_is_none_when_the_denominator_is_at_the_floor(h, runs):
    assert h.Ratio("tool / floor", "g/tool", "g/floor", floor="g/floor").over_floor(runs) is None


def test_ratio_over_floor_is_none_when_the_denominator_is_below_the_floor(h, runs):
    assert h.Ratio("tool / fast", "g/tool", "g/fast", floor="g/floor").over_floor(runs) is None


def test_ratio_over_floor_of_a_numerator_below_the_floor_is_none(h, runs):
    # A tool "faster than the floor" is noise: it used to get a negative ratio, counted as met.
    ratio = h.Ratio("fast / pa", "g/fast", "g/pa", floor="g/floor", target=1.0)
    assert ratio.over_floor(runs) is None
    assert ratio.verdict(runs, over_floor=True) is None


def test_ratio_value_of_a_zero_denominator_raises(h):
    zero = {"a": _summary(h, wall=1.0, cpu=1.0), "b": _summary(h, wall=1.0, cpu=0.0)}
    with pytest.raises(ZeroDivisionError):
        h.Ratio("a / b", "a", "b").value(zero)


def test_verdict_judges_the_whole_run_or_the_overhead_against_the_target(h, runs):
    ratio = h.Ratio("tool / pa", "g/tool", "g/pa", target=0.8, floor="g/floor")
    assert ratio.verdict(runs) is False  # whole run: 2.5 / 3 = 0.83 > 0.8
    assert ratio.verdict(runs, over_floor=True) is True  # overhead: 0.75 <= 0.8


def test_verdict_is_met_at_exactly_the_target(h, runs):
    assert h.Ratio("x", "g/tool", "g/pa", metric="wall", target=0.75).verdict(runs) is True
    assert h.Ratio("x", "g/tool", "g/pa", metric="wall", target=0.74).verdict(runs) is False


def test_verdict_without_a_target_or_an_overhead_ratio_is_none(h, runs):
    assert h.Ratio("x", "g/tool", "g/pa", floor="g/floor").verdict(runs) is None
    no_den = h.Ratio("x", "g/tool", "g/floor", target=2.0, floor="g/floor")
    assert no_den.verdict(runs, over_floor=True) is None
    assert no_den.verdict(runs) is False  # the whole run is still judged: 2.5 > 2.0
    no_floor = h.Ratio("x", "g/tool", "g/pa", target=2.0)
    assert no_floor.verdict(runs, over_floor=True) is None


# -- formatting -------------------------------------------------------------------------------


def test_times_prints_two_decimals_and_the_multiplication_sign(h):
    assert h.times(2.0) == "2.00\N{MULTIPLICATION SIGN}"
    assert h.times(0.7) == "0.70\N{MULTIPLICATION SIGN}"
    assert h.times(1.236) == "1.24\N{MULTIPLICATION SIGN}"
    assert h.times(None) == "—"


def test_format_table_aligns_the_first_columns_left_and_the_rest_right(h):
    assert h.format_table(["name", "n"], [["a", "1"], ["bbb", "22"]]) == (
        "name   n\n----  --\na      1\nbbb   22"
    )


def test_format_table_left_columns_and_no_trailing_blanks(h):
    assert h.format_table(["k", "v", "w"], [["x", "", "1"], ["yy", "z", ""]], left=2) == (
        "k   v  w\n--  -  -\nx      1\nyy  z"
    )


def test_render_timings_per_test_overheads_ratios_and_verdicts(h):
    configs = [
        _config(h, "trivial/floor", "floor"),
        _config(h, "trivial/tool", "tool"),
        _config(h, "trivial/pa", "pa"),
        _config(h, "other/floor", "other floor"),
    ]
    summaries = {
        "trivial/floor": _summary(h, wall=2.0, cpu=1.0, cpu_spread=0.25),
        "trivial/tool": _summary(h, wall=2.7, cpu=1.5, cpu_spread=0.1),
        "trivial/pa": _summary(h, wall=3.0, cpu=2.0),
        "other/floor": _summary(h, wall=9.0, cpu=9.0),
    }
    ratios = [
        h.Ratio("tool / pa", "trivial/tool", "trivial/pa", target=0.8, floor="trivial/floor"),
        h.Ratio("pa / tool", "trivial/pa", "trivial/tool", target=1.2, floor="trivial/floor"),
        h.Ratio("tool / floor", "trivial/tool", "trivial/floor", floor="trivial/floor"),
    ]
    text = h.render_timings(
        configs,
        summaries,
        ratios,
        {"trivial": "1000 trivial tests"},
        {"trivial": 1000},
        {"python": "3.11.9", "pytest": "9.2.0"},
        rounds=5,
        suite="guards",
    )
    x = "\N{MULTIPLICATION SIGN}"
    assert text.splitlines()[0] == "loopwarden bench: guards — python 3.11.9 · pytest 9.2.0"
    assert "medians of 5 rounds" in text
    assert "[trivial] 1000 trivial tests" in text
    assert "other floor" not in text  # a group without a title is not shown
    # configuration, wall s, CPU s, spread, CPU ms/test, over floor CPU ms/test, ... wall ms/test
    assert _row(text, "floor") == ["floor", "2.00", "1.00", "25%", "1.000", "—", "—"]
    assert _row(text, "tool") == ["tool", "2.70", "1.50", "10%", "1.500", "+0.500", "+0.700"]
    assert _row(text, "pa") == ["pa", "3.00", "2.00", "0%", "2.000", "+1.000", "+1.000"]
    # ratio, CPU, CPU over floor, wall, target (CPU), met: CPU, met: over floor
    assert _row(text, "[trivial] tool / pa") == [
        "[trivial] tool / pa",
        f"0.75{x}",  # 1.5 / 2
        f"0.50{x}",  # (1.5 - 1) / (2 - 1)
        f"0.90{x}",  # 2.7 / 3
        f"<= 0.80{x}",
        "met",
        "met",
    ]
    assert _row(text, "[trivial] pa / tool") == [
        "[trivial] pa / tool",
        f"1.33{x}",  # 2 / 1.5
        f"2.00{x}",  # (2 - 1) / (1.5 - 1)
        f"1.11{x}",  # 3 / 2.7
        f"<= 1.20{x}",
        "NOT MET",
        "NOT MET",
    ]
    assert _row(text, "[trivial] tool / floor") == [
        "[trivial] tool / floor",
        f"1.50{x}",
        "—",  # the denominator is the floor: no overhead to divide by
        f"1.35{x}",  # 2.7 / 2
        "—",
        "—",
        "—",
    ]


def test_render_counts_per_test_instructions_and_the_verdict_on_the_whole_run(h):
    configs = [
        _config(h, "trivial/floor", "floor"),
        _config(h, "trivial/tool", "tool"),
        _config(h, "trivial/pa", "pa"),
    ]
    counted = {
        "trivial/floor": h.Counted(1.0e9),
        "trivial/tool": h.Counted(1.5e9),
        "trivial/pa": h.Counted(2.0e9),
    }
    ratios = [
        h.Ratio("tool / pa", "trivial/tool", "trivial/pa", target=0.7, floor="trivial/floor"),
        h.Ratio("tool / gone", "trivial/tool", "trivial/gone", target=0.7),  # not counted
    ]
    text = h.render_counts(configs, counted, ratios, {"trivial": "T"})
    x = "\N{MULTIPLICATION SIGN}"
    # configuration, G instr, k instr/test, over floor k instr/test (1000 tests each)
    assert _row(text, "floor") == ["floor", "1.000", "1000", "—"]
    assert _row(text, "tool") == ["tool", "1.500", "1500", "+500"]
    # ratio, whole run, over floor, target, met: 0.75 > 0.7 although the overhead ratio is 0.5
    assert _row(text, "[trivial] tool / pa") == [
        "[trivial] tool / pa",
        f"0.750{x}",
        f"0.50{x}",
        f"<= 0.70{x}",
        "NOT MET",
    ]
    assert "tool / gone" not in text


# -- choosing configurations and generating suites ---------------------------------------------


def test_select_configs_keeps_the_matches_and_their_groups_floor(h):
    configs = [
        _config(h, key)
        for key in ("trivial/floor", "trivial/a", "trivial/b", "fixtures/floor", "fixtures/a")
    ]
    ratios = [
        h.Ratio("a / b", "trivial/a", "trivial/b"),
        h.Ratio("a / floor", "trivial/a", "trivial/floor"),
        h.Ratio("fixtures a / trivial a", "fixtures/a", "trivial/a"),
    ]
    chosen, kept = h.select_configs(configs, ratios, " trivial/a , ")
    assert [c.key for c in chosen] == ["trivial/floor", "trivial/a"]
    assert [r.label for r in kept] == ["a / floor"]
    chosen, kept = h.select_configs(configs, ratios, "*/a")
    assert [c.key for c in chosen] == ["trivial/floor", "trivial/a", "fixtures/floor", "fixtures/a"]
    assert [r.label for r in kept] == ["a / floor", "fixtures a / trivial a"]


@pytest.mark.parametrize("only", ["nothing", "*/floor", " , "])
def test_select_configs_that_match_no_measured_configuration_fail(h, only):
    configs = [_config(h, "trivial/floor"), _config(h, "trivial/a")]
    with pytest.raises(h.BenchError, match="matches no configuration"):
        h.select_configs(configs, [], only)


def test_spread_cuts_tests_into_nearly_equal_consecutive_files(shared):
    assert shared.spread(10, 3) == [range(0, 4), range(4, 7), range(7, 10)]
    assert shared.spread(2, 5) == [range(0, 1), range(1, 2)]  # never an empty file
    assert shared.spread(5, 0) == [range(0, 5)]  # at least one file
    assert shared.spread(2000, 20) == [range(i * 100, i * 100 + 100) for i in range(20)]


def test_suite_sizes_default_to_2000_and_200_and_a_tenth_and_a_fifth_with_quick(h, shared):
    def args(tests=None, fixture_tests=None, quick=False):
        return argparse.Namespace(tests=tests, fixture_tests=fixture_tests, quick=quick)

    assert shared.suite_sizes(args()) == (2000, 200)
    assert shared.suite_sizes(args(quick=True)) == (200, 40)
    assert shared.suite_sizes(args(tests=7, fixture_tests=3, quick=True)) == (7, 3)
    with pytest.raises(h.BenchError, match="at least 1"):
        shared.suite_sizes(args(fixture_tests=0))


def test_suite_titles_name_only_the_groups_measured(h, shared):
    titles = shared.suite_titles([_config(h, "fixtures/a")], 2000, 200)
    assert list(titles) == ["fixtures"]
    assert titles["fixtures"].startswith("200 tests, each with")
    both = shared.suite_titles([_config(h, "trivial/a"), _config(h, "fixtures/a")], 2000, 200)
    assert both["trivial"].startswith("2000 trivial tests")


# -- the suites' own tables -------------------------------------------------------------------


def test_db_in_process_isolation_cost_is_savepoint_minus_no_isolation(db):
    # Seconds per test; powers of two, so the milliseconds are exact.
    rounds = [
        {"times": {"savepoint": [1 / 512, 1 / 256, 1 / 128], "none": [1 / 1024, 1 / 512, 1]}},
    ]
    text = db._render_in_process(rounds, 1)
    # medians: savepoint 3.90625 ms, none 1.953125 ms -> isolation 1.953125 ms <= 2 ms
    assert "per test on PostgreSQL: 1.95 ms, met" in text
    assert "3.91 ms median, 7.81 ms p90)" in text  # p90 of 3 tests: int(2.7) = 2, the largest
    row = _row(text, db.LABELS["savepoint"])
    assert row[1:4] == ["3", "3.91", "7.81"]  # tests, median ms, p90 ms
    assert row[5:] == ["+1.95", "1.0\N{MULTIPLICATION SIGN}"]  # over none, / savepoint


def test_db_spread_is_the_range_of_round_medians_over_their_median(db):
    # Round medians 1, 2 and 8 ms: (8 - 1) / 2 = 350 %.
    rounds = [
        {"times": {"savepoint": [0.001, 0.001, 0.001], "none": [0.001]}},
        {"times": {"savepoint": [0.002, 0.002, 0.002], "none": [0.001]}},
        {"times": {"savepoint": [0.008, 0.008, 0.008], "none": [0.001]}},
    ]
    assert _row(db._render_in_process(rounds, 3), db.LABELS["savepoint"])[4] == "350 %"
    # Round medians 1, 1 and 8 (the last round has 7 tests): (8 - 1) / 1 = 700 %, where the
    # pooled median (8 ms) would have said 88 %.
    rounds[1]["times"]["savepoint"] = [0.001]
    rounds[2]["times"]["savepoint"] = [0.008] * 7
    assert _row(db._render_in_process(rounds, 3), db.LABELS["savepoint"])[4] == "700 %"


def test_db_in_process_isolation_at_the_target_is_met_and_over_it_not(db):
    at = [{"times": {"savepoint": [0.004], "none": [0.002]}}]  # 4 ms - 2 ms, exactly
    assert "per test on PostgreSQL: 2.00 ms, met" in db._render_in_process(at, 1)
    over = [{"times": {"savepoint": [1 / 128], "none": [1 / 512]}}]
    # 7.8125 - 1.953125 = 5.859375 ms > 2 ms
    assert "per test on PostgreSQL: 5.86 ms, NOT met" in db._render_in_process(over, 1)


def test_db_pytest_runs_compare_per_test_wall_over_each_floor(h, db):
    configs = [
        _config(h, "n/floor", "floor", expected=200),
        _config(h, "n/savepoint", "savepoint", expected=200),
        _config(h, "n/engine", "engine", expected=200),
        _config(h, "n/sqlite", "sqlite", expected=200),
        _config(h, "t/floor", "t floor", expected=50),
        _config(h, "t/template", "template", expected=50),
    ]
    summaries = {
        "n/floor": _summary(h, wall=2.0, cpu=1.0),
        "n/savepoint": _summary(h, wall=2.4, cpu=1.0),  # +2 ms per test
        "n/engine": _summary(h, wall=3.6, cpu=1.0),  # +8 ms
        "n/sqlite": _summary(h, wall=2.2, cpu=1.0),  # +1 ms
        "t/floor": _summary(h, wall=1.0, cpu=1.0),
        "t/template": _summary(h, wall=2.0, cpu=1.0),  # +20 ms over its own floor
    }
    text = db._render_pytest(configs, summaries, 5)
    assert _row(text, "engine")[-1] == "+8.00"
    assert _row(text, "template")[-1] == "+20.00"
    assert _row(text, "floor")[-1] == "—"
    x = "\N{MULTIPLICATION SIGN}"
    assert (
        f"relative to loopwarden's savepoint (2.00 ms): engine 4.0{x}, template 10.0{x}, "
        f"sqlite 0.5{x}"
    ) in text

    summaries["n/savepoint"] = _summary(h, wall=2.0, cpu=1.0)  # no slower than the floor
    assert "savepoint run was not slower than the floor: no ratios" in db._render_pytest(
        configs, summaries, 5
    )


def test_fuzz_ratios_judge_cpu_and_wall_separately_and_guard_the_floor(h, fuzz):
    n = 1000
    configs = [
        _config(h, "floor/sync", "floor", expected=n),
        _config(h, "trivial/plain", "trivial plain", expected=n),
        _config(h, "trivial/fuzz", "trivial fuzz", expected=n),
        _config(h, "gather/plain", "gather plain", expected=n),
        _config(h, "gather/fuzz", "gather fuzz", expected=n),
        _config(h, "rate/fuzz-runs", "rate fuzz", expected=200),
        _config(h, "rate/param", "rate param", expected=200),
    ]
    medians = {
        "floor/sync": (1.0, 1.0),  # (wall, cpu)
        "trivial/plain": (2.0, 2.0),
        "trivial/fuzz": (2.8, 2.4),  # CPU 1.2x (met), wall 1.4x (not met)
        "gather/plain": (1.0, 0.5),  # CPU below the floor: no overhead ratio
        "gather/fuzz": (1.0, 0.5),
        "rate/fuzz-runs": (2.0, 2.0),
        "rate/param": (1.0, 1.0),
    }
    summaries = {k: _summary(h, wall=w, cpu=c) for k, (w, c) in medians.items()}
    samples = {k: _samples(h, c, wall=[w]) for k, (w, c) in medians.items()}
    text = fuzz._render_pytest(configs, samples, summaries, n, 4, 50, 1)
    x = "\N{MULTIPLICATION SIGN}"
    # ratio, wall, CPU, paired wall, paired CPU, over floor, extra CPU ms, target, met CPU, wall
    assert _row(text, "trivial: fuzzed run / plain run") == [
        "trivial: fuzzed run / plain run",
        f"1.40{x}",
        f"1.20{x}",
        f"1.40{x}",
        f"1.20{x}",
        f"1.40{x}",  # (2.4 - 1) / (2 - 1)
        "+0.400",  # (2.4 - 2) / 1000 tests, in ms
        f"<= 1.30{x}",
        "met",
        "NOT MET",
    ]
    assert _row(text, "gather: fuzzed run / plain run")[5] == "—"
    rate = _row(text, "fuzz runs / plain parametrize (same items)")
    assert rate[5:] == ["—", "+5.000", "—", "—", "—"]  # (2 - 1) / 200 items


def test_virtual_time_target_needs_both_wall_and_cpu(h, vt):
    n = 100
    keys = ("lw/virtual", "lw/floor", "lw/floor-flag", "lt/looptime", "lt/floor", "lt/floor-flag")
    configs = [_config(h, key, key, expected=n) for key in keys]

    def render(virtual):
        medians = dict.fromkeys(keys, (1.0, 1.0)) | {"lw/virtual": virtual}
        summaries = {k: _summary(h, wall=w, cpu=c) for k, (w, c) in medians.items()}
        samples = {k: _samples(h, c, wall=[w]) for k, (w, c) in medians.items()}
        return vt._render_timing(configs, samples, summaries, n, 1)

    label = "loopwarden virtual time / its floor"
    assert _row(render((1.1, 1.2)), label)[-1] == "met"  # both <= 1.2
    assert _row(render((1.1, 1.3)), label)[-1] == "NOT MET"  # CPU over
    assert _row(render((1.3, 1.1)), label)[-1] == "NOT MET"  # wall over
    # Over its own floor, per test in ms: (1.1 - 1.0) / 100 s = +1.00 ms wall, +2.00 ms CPU.
    assert _row(render((1.1, 1.2)), "lw/virtual")[-2:] == ["+1.00", "+2.00"]
    assert _row(render((1.1, 1.2)), "lw/floor")[-2:] == ["—", "—"]


@pytest.fixture(scope="module")
def migrate_corpus():
    yield from _bench_module("migrate_corpus")


def test_pytest_8s_names_of_duplicate_ids_count_as_the_baselines(migrate_corpus):
    base = ["t.py::test_a[1.234-1.2340]", "t.py::test_a[1.234-1.2341]", "t.py::test_b[x0]"]
    other = ["t.py::test_a[1.234-1.234_0]", "t.py::test_a[1.234-1.234_1]", "t.py::test_b[x0]"]
    assert migrate_corpus.renamed_ids(base, other) == {
        "t.py::test_a[1.234-1.234_0]": "t.py::test_a[1.234-1.2340]",
        "t.py::test_a[1.234-1.234_1]": "t.py::test_a[1.234-1.2341]",
    }


def test_an_id_is_not_renamed_when_its_old_form_is_missing_or_already_taken(migrate_corpus):
    # A real new id (v1_2 with no v12 in the baseline); an id whose pytest 7 form the other
    # run collects as well (both exist: nothing was renamed); an underscore after a letter.
    base = ["t.py::test_a[v12]", "t.py::test_c[ab0]"]
    other = ["t.py::test_b[v1_2]", "t.py::test_a[v1_2]", "t.py::test_a[v12]", "t.py::test_c[ab_0]"]
    assert migrate_corpus.renamed_ids(base, other) == {}


def test_the_verdict_compares_renamed_ids_and_their_passes(migrate_corpus):
    def step(name, outcomes):
        return migrate_corpus.Step(name, outcomes, {}, "", 0)

    base = step("baseline", {"t.py::a[10]": "passed", "t.py::a[11]": "passed", "t.py::b": "failed"})
    own = step("own", {"t.py::a[1_0]": "passed", "t.py::a[1_1]": "failed", "t.py::b": "failed"})
    result = migrate_corpus.Result(None, {"baseline": base, "own": own})
    assert result.verdict("own") == (False, [], ["t.py::a[11]"])
    assert result.renamed("own") == 2
    own.outcomes["t.py::a[1_1]"] = "passed"
    assert result.verdict("own") == (True, [], [])
    del own.outcomes["t.py::b"]
    assert result.verdict("own") == (False, ["t.py::b"], [])
