"""Builders shared by the optimizer tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from custom_components.v2g.optimizer import Plan, Problem, Site, Vehicle, make_grid

T0 = datetime(2024, 6, 3, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def problem(
    import_price: list[float] | np.ndarray,
    *,
    export_price: list[float] | np.ndarray | None = None,
    slot_s: int = 3600,
    vehicles: tuple[Vehicle, ...] | None = None,
    site: Site | None = None,
    solar_w: list[float] | np.ndarray | None = None,
    load_w: list[float] | np.ndarray | None = None,
    terminal_value: float | None = None,
) -> Problem:
    n = len(import_price)
    grid = make_grid(T0, T0 + timedelta(seconds=slot_s * n), slot_s)
    return Problem(
        grid=grid,
        import_price_per_kwh=np.asarray(import_price, dtype=float),
        export_price_per_kwh=np.asarray(
            import_price if export_price is None else export_price, dtype=float
        ),
        vehicles=vehicles if vehicles is not None else (ev(),),
        site=site or Site(),
        solar_power_w=None if solar_w is None else np.asarray(solar_w, dtype=float),
        base_load_power_w=None if load_w is None else np.asarray(load_w, dtype=float),
        terminal_value_per_kwh=terminal_value,
    )


def ev(**kwargs: object) -> Vehicle:
    defaults: dict[str, object] = {
        "capacity_kwh": 100.0,
        "soc_pct": 50.0,
        "target_soc_pct": 50.0,
        "max_charge_power_w": 10_000.0,
        "max_discharge_power_w": 10_000.0,
        "charge_efficiency": 1.0,
        "discharge_efficiency": 1.0,
        "v2g_allowed": True,
    }
    defaults.update(kwargs)
    return Vehicle(**defaults)  # type: ignore[arg-type]


def kw(array: np.ndarray) -> list[float]:
    return [round(float(v) / 1000.0, 6) for v in array]


def assert_no_simultaneous(plan: Plan) -> None:
    for vehicle in plan.vehicles:
        both = (vehicle.charge_power_w > 1e-3) & (vehicle.discharge_power_w > 1e-3)
        assert not both.any(), "charging and discharging in the same slot"
    both = (plan.grid_import_w > 1e-3) & (plan.grid_export_w > 1e-3)
    assert not both.any(), "importing and exporting in the same slot"


def assert_balanced(problem_: Problem, plan: Plan) -> None:
    """Grid import - export - curtailed + vehicle discharge - charge = load - solar, per slot."""
    vehicles_w = sum(v.charge_power_w - v.discharge_power_w for v in plan.vehicles)
    lhs = plan.grid_import_w - plan.grid_export_w - plan.curtailed_solar_w - vehicles_w
    np.testing.assert_allclose(lhs, problem_.load - problem_.solar, atol=1e-3)
    assert (plan.curtailed_solar_w >= -1e-3).all()
    assert (plan.curtailed_solar_w <= problem_.solar + 1e-3).all()
