"""Grid-frequency traces for tests and benchmarks: Ornstein-Uhlenbeck noise and a contingency.

Model (documented so results can be compared): the frequency deviation from 50 Hz follows an
Ornstein-Uhlenbeck process, mean-reverting with rate `theta` (1/s) and a stationary standard
deviation `std_hz` (the Nordic and Continental European grids show roughly 20-50 mHz), sampled
every `step_s`. A contingency (the loss of a large plant) optionally drops the frequency
linearly to `dip_hz` (49.5 Hz: a severe event, below FCR-D's 49.9 Hz activation) within
`dip_fall_s`, holds it `dip_hold_s`, then lets it recover exponentially with time constant
`dip_recover_s` back into the noise. Seeded: the same arguments give the same trace.

    trace = frequency_trace(duration_s=600, seed=1, contingency_at_s=300)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def frequency_trace(
    *,
    duration_s: float,
    step_s: float = 1.0,
    nominal_hz: float = 50.0,
    std_hz: float = 0.03,
    theta: float = 0.02,
    seed: int = 0,
    contingency_at_s: float | None = None,
    dip_hz: float = 49.5,
    dip_fall_s: float = 5.0,
    dip_hold_s: float = 20.0,
    dip_recover_s: float = 60.0,
) -> npt.NDArray[np.float64]:
    """The frequency (Hz) at each step from 0 to `duration_s` (exclusive)."""
    count = math.ceil(duration_s / step_s)
    rng = np.random.default_rng(seed)
    decay = math.exp(-theta * step_s)
    noise_std = std_hz * math.sqrt(1.0 - decay**2)
    deviation = np.empty(count)
    value = rng.normal(0.0, std_hz)
    for i in range(count):
        deviation[i] = value
        value = value * decay + rng.normal(0.0, noise_std)
    trace = nominal_hz + deviation
    if contingency_at_s is not None:
        t = np.arange(count) * step_s - contingency_at_s
        depth = nominal_hz - dip_hz
        fall = np.clip(t / dip_fall_s, 0.0, 1.0)
        recovering = t - dip_fall_s - dip_hold_s
        recovery = np.where(
            recovering > 0, np.exp(-np.clip(recovering, 0, None) / dip_recover_s), 1
        )
        dip = np.where(t >= 0, depth * fall * recovery, 0.0)
        trace = trace - dip
    return trace
