"""histogram_quantile against Prometheus' algorithm, values worked out by hand."""

from __future__ import annotations

import math

import pytest

from topology.graph.quantile import histogram_quantile, histogram_quantiles

INF = math.inf


def test_interpolates_linearly_inside_the_bucket() -> None:
    # given 100 observations: 10 <= 1, 60 <= 2, 90 <= 4, all <= +Inf
    buckets = [(1.0, 10.0), (2.0, 60.0), (4.0, 90.0), (INF, 100.0)]
    # then p50: rank 50 in (1, 2] holding 50 from 10 -> 1 + 1 * 40/50; p80: rank 80 in (2, 4] -> 2 + 2 * 20/30
    assert histogram_quantile(0.5, buckets) == pytest.approx(1.8)
    assert histogram_quantile(0.8, buckets) == pytest.approx(2.0 + 2.0 * 20.0 / 30.0)


def test_lowest_bucket_interpolates_from_zero() -> None:
    # given all 10 observations <= 10
    buckets = [(10.0, 10.0), (20.0, 10.0), (INF, 10.0)]
    # then rank 5 in (0, 10] -> 5
    assert histogram_quantile(0.5, buckets) == 5.0


def test_lowest_bucket_with_non_positive_bound_returns_the_bound() -> None:
    # given a first bucket bound of 0
    assert histogram_quantile(0.1, [(0.0, 5.0), (1.0, 10.0), (INF, 10.0)]) == 0.0


def test_rank_in_the_inf_bucket_returns_the_highest_finite_bound() -> None:
    # given all observations above the last finite bound
    buckets = [(0.5, 0.0), (100.0, 0.0), (INF, 7.0)]
    # then
    assert histogram_quantile(0.5, buckets) == 100.0
    assert histogram_quantile(0.99, buckets) == 100.0


def test_no_observations_or_no_inf_bucket_gives_none() -> None:
    assert histogram_quantile(0.5, [(1.0, 0.0), (INF, 0.0)]) is None
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(1.0, 3.0), (2.0, 4.0)]) is None


def test_single_bucket_gives_none() -> None:
    # given only the +Inf bucket (Prometheus: fewer than two buckets -> NaN)
    assert histogram_quantile(0.5, [(INF, 5.0)]) is None


def test_q_outside_zero_one_and_nan() -> None:
    buckets = [(1.0, 1.0), (INF, 2.0)]
    assert histogram_quantile(-0.1, buckets) == -INF
    assert histogram_quantile(1.1, buckets) == INF
    assert histogram_quantile(math.nan, buckets) is None


def test_non_monotonic_counts_are_lifted_before_searching() -> None:
    # given a dip: 10 <= 1, 8 <= 2 (lifted to 10), 20 <= 4, 20 total
    buckets = [(2.0, 8.0), (1.0, 10.0), (4.0, 20.0), (INF, 20.0)]
    # then rank 10 reaches bucket 1 (count 10) -> 1 * 10/10 = 1; rank 15 in (2, 4] -> 2 + 2 * 5/10
    assert histogram_quantile(0.5, buckets) == 1.0
    assert histogram_quantile(0.75, buckets) == 3.0


def test_equal_bounds_are_merged() -> None:
    # given the same bounds twice (two series summed by bound)
    buckets = [(1.0, 5.0), (1.0, 5.0), (INF, 10.0), (INF, 10.0)]
    # then 10 <= 1 of 20 -> p50 = 1 * 10/10
    assert histogram_quantile(0.5, buckets) == 1.0


def test_q_zero_with_empty_first_bucket_gives_none() -> None:
    # Go computes 0/0 for this one
    assert histogram_quantile(0.0, [(1.0, 0.0), (INF, 4.0)]) is None


def test_several_quantiles_at_once_match_one_at_a_time() -> None:
    buckets = [(5.0, 3.0), (10.0, 9.0), (25.0, 12.0), (INF, 12.0)]
    assert histogram_quantiles((0.5, 0.9), buckets) == [
        histogram_quantile(0.5, buckets),
        histogram_quantile(0.9, buckets),
    ]
    # rank 6 in (5, 10] -> 5 + 5 * 3/6; rank 10.8 in (10, 25] -> 10 + 15 * 1.8/3
    assert histogram_quantiles((0.5, 0.9), buckets) == [pytest.approx(7.5), pytest.approx(19.0)]
