"""The quantile sketch: relative accuracy, and merges that do not depend on order."""

from __future__ import annotations

import numpy as np
import pytest

from lambeam.data.sketch import QuantileSketch


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e6])
def test_quantiles_are_within_relative_accuracy(scale: float) -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(0, 2, 50_000) * scale
    values[::7] *= -1
    values[::11] = 0.0
    sketch = QuantileSketch().add(values)
    for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99):
        rank = int(np.floor(q * (len(values) - 1)))
        exact = np.sort(values)[rank]
        assert abs(sketch.quantile(q) - exact) <= 0.001 * abs(exact) + 1e-12
    assert sketch.quantile(0) == values.min()
    assert sketch.quantile(1) == values.max()


def test_missing_values_are_skipped_and_empty_is_nan() -> None:
    sketch = QuantileSketch().add(np.array([np.nan, 2.0, np.nan]))
    assert sketch.count == 1
    assert sketch.quantile(0.5) == pytest.approx(2.0, rel=1e-3)
    assert np.isnan(QuantileSketch().quantile(0.5))


def test_merge_order_does_not_change_the_sketch() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.normal(100, 30, 1000) for _ in range(8)]
    forward = QuantileSketch()
    for part in parts:
        forward.merge(QuantileSketch().add(part))
    backward = QuantileSketch()
    for part in reversed(parts):
        backward.merge(QuantileSketch().add(part))
    pairs = (
        QuantileSketch()
        .add(np.concatenate(parts[4:]))
        .merge(QuantileSketch().add(np.concatenate(parts[:4])))
    )
    assert forward == backward == pairs
    qs = [0.1, 0.5, 0.9]
    assert forward.quantiles(qs) == backward.quantiles(qs) == pairs.quantiles(qs)
