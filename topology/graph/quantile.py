"""Prometheus' ``histogram_quantile`` for classic (``le``) buckets, in plain Python.

Same algorithm as Prometheus 2.x ``bucketQuantile``: sort by upper bound, merge equal bounds,
force cumulative counts to be monotonic, find the bucket holding rank ``q * count`` and
interpolate linearly inside it (the lowest bucket from 0 when its bound is positive).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q``-quantile of a histogram given as ``(upper_bound, cumulative_count)`` pairs.

    ``buckets`` may come in any order and must include the ``+Inf`` bucket (its count is the
    total). Returns ``None`` where Prometheus returns NaN: ``q`` is NaN, no ``+Inf`` bucket,
    fewer than two buckets, or no observations. ``q < 0`` gives ``-inf`` and ``q > 1`` ``+inf``,
    as in Prometheus. A rank that falls in the ``+Inf`` bucket yields the highest finite bound.
    Never raises for finite counts.
    """
    return histogram_quantiles((q,), buckets)[0]


def histogram_quantiles(qs: tuple[float, ...], buckets: list[tuple[float, float]]) -> list[float | None]:
    """``histogram_quantile`` for each of ``qs`` over the same buckets, preparing them once."""
    return quantiles_of_prepared(qs, _prepare(buckets))


def _prepare(buckets: list[tuple[float, float]]) -> tuple[list[float], list[float]] | None:
    """Sorted bounds and monotonic cumulative counts, or ``None`` when no quantile exists."""
    if not buckets:
        return None
    ordered = sorted(buckets)
    if not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return None
    # Equal bounds (e.g. the same bucket from two series) are one bucket.
    bounds: list[float] = []
    counts: list[float] = []
    for bound, count in ordered:
        if bounds and bounds[-1] == bound:
            counts[-1] += count
        else:
            bounds.append(bound)
            counts.append(count)
    # Counts are cumulative, so a dip is an artefact of rate() over resets or scrapes taken at
    # different moments; Prometheus lifts each count to the largest one below it.
    highest = -math.inf
    for i, count in enumerate(counts):
        if count > highest:
            highest = count
        elif count < highest:
            counts[i] = highest
    if len(bounds) < 2:
        return None
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return None
    return bounds, counts


def quantiles_of_prepared(
    qs: tuple[float, ...], prepared: tuple[Sequence[float], Sequence[float]] | None
) -> list[float | None]:
    """``histogram_quantile(q)`` for each of ``qs`` over buckets already prepared as ``(bounds,
    cumulative counts)``, sorted by bound with ``+Inf`` last and made monotonic (``None``: no
    observations).

    For callers that compute several quantiles of many histograms and prepare each once.
    """
    if prepared is None:
        return [_out_of_range(q) for q in qs]
    bounds, counts = prepared
    last = len(counts) - 1
    total = counts[-1]
    results: list[float | None] = []
    for q in qs:
        if math.isnan(q) or q < 0 or q > 1:
            results.append(_out_of_range(q))
            continue
        rank = q * total
        # The first bucket (excluding +Inf) whose cumulative count reaches the rank.
        b = bisect_left(counts, rank, 0, last)
        if b == last:
            results.append(bounds[-2])
            continue
        if b == 0 and bounds[0] <= 0:
            results.append(bounds[0])
            continue
        start = 0.0
        end = bounds[b]
        count = counts[b]
        if b > 0:
            start = bounds[b - 1]
            count -= counts[b - 1]
            rank -= counts[b - 1]
        # q = 0 with an empty lowest bucket: Go computes 0/0, i.e. NaN.
        results.append(None if count == 0 else start + (end - start) * (rank / count))
    return results


def _out_of_range(q: float) -> float | None:
    """What a quantile outside 0..1 (or of no observations, for q in 0..1) is: as Prometheus."""
    if math.isnan(q):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    return None
