"""The one place that orchestrates a site: read, collect, plan, correct, apply.

Every update reads every charger (each with its own timeout), collects prices, solar and load
once, plans all EVs in the Smart modes together, corrects the setpoints once for the live grid
meter, and applies each charger's first slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt

from .capacity import CapacityStatus, PeakHistory, status as capacity_status, tariff_from_options
from .charger import Charger, Departure
from .chargers import ChargerState, ChargerStatus, ChargerUnavailableError
from .const import (
    DEFAULT_OPERATOR_CHARGER_LIMIT_W,
    DOMAIN,
    LOGGER,
    OPT_CHARGE_EFFICIENCY_PCT,
    OPT_DISCHARGE_EFFICIENCY_PCT,
    OPT_FREQ_DEADBAND_MHZ,
    OPT_FREQ_DURATION_MIN,
    OPT_FREQ_END,
    OPT_FREQ_FULL_MHZ,
    OPT_FREQ_MAX_DOWN_W,
    OPT_FREQ_MAX_UP_W,
    OPT_FREQ_PRICE_ENTITY,
    OPT_FREQ_SENSOR,
    OPT_FREQ_START,
    OPT_GRID_POWER_ENTITY,
    OPT_GRID_POWER_INVERT,
    OPT_MAX_V2G_SOC_PCT,
    OPT_OPERATOR_CHARGER_LIMIT_W,
    OPT_OPERATOR_LIMIT_ENTITY,
    OPT_WEAR_COST_PER_KWH,
    PRIORITY_WEIGHTS,
    SMART_MODES,
    UPDATE_INTERVAL,
)
from .decision import (
    Decision,
    GridShare,
    Reason,
    decide,
    decide_from_plan,
    energy_needed_kwh,
    follow_limits_w,
    limit_site_to_grid,
    makeup_w,
)
from .dispatch import (
    Dispatch,
    Dispatches,
    DispatchEvent,
    DispatchMode,
    DispatchStore,
    beyond_site_bounds_kwh,
    dispatch_energy_kwh,
    with_dispatches,
)
from .frequency import (
    Droop,
    Room,
    WattCurve,
    curve_power_w,
    room,
    share_response,
    watt_curve,
)
from .inputs import (
    InputCollector,
    Inputs,
    InputsConfig,
    clear_repair_issues,
    sync_repair_issues,
)
from .inputs.model import to_float
from .inputs.openadr import with_announced_limits
from .ledger import Ledger, Prices, counter_delta, site_shares
from .openadr_ven import SiteVen, ven_config
from .operator import OperatorLimit, OperatorLimitLog, combine_limits, read_operator_limit
from .optimizer import CapacityTariff, Plan, Problem, SlotGrid, solve
from .planner import (
    PlanResult,
    VehicleMoney,
    build_problem,
    build_vehicle,
    fixed_load_w,
    kept_response_now,
    make_plan,
    option,
    planning_grid,
    reserve_prices,
    site_limits,
    with_frequency_offer,
)

DISPATCH_UNMET_KWH = 0.05
"""A `must` dispatch the plan would miss by more than this is refused."""
PUSH_REFRESH_COOLDOWN_S = 1.0
FREQUENCY_DEADBAND_W = 10.0
"""Frequency responses are sent from this change on (the planned setpoints' deadband is 50 W)."""


@dataclass(slots=True)
class V2GRuntimeData:
    """What a loaded site holds: its coordinator and its chargers by subentry id."""

    coordinator: SiteCoordinator
    chargers: dict[str, Charger] = field(default_factory=dict)
    charger_added: list[Callable[[Charger], None]] = field(default_factory=list)
    """Platforms' callbacks that add a new charger's entities."""
    loaded_data: dict[str, Any] = field(default_factory=dict)
    """The site's data when it was set up (a change reloads the site)."""
    loaded_options: dict[str, Any] = field(default_factory=dict)
    """The options in use (a change is applied without a reload)."""


type V2GConfigEntry = ConfigEntry[V2GRuntimeData]


@dataclass(frozen=True, slots=True)
class ChargerData:
    """One charger's part of an update."""

    state: ChargerState | None
    """None: the charger did not answer this update (its entities are unavailable)."""
    decision: Decision
    applied_setpoint_w: float
    departure: Departure
    error: str | None = None
    """Why the charger is unavailable."""


@dataclass(frozen=True, slots=True)
class SiteData:
    """One update's result, read by every entity."""

    chargers: dict[str, ChargerData]
    updated_at: datetime
    plan: PlanResult | None = None
    """The joint plan of the EVs in the Smart modes that are plugged in."""
    inputs: Inputs | None = None
    """Prices, solar and load on the plan's slots (while any EV is in a Smart mode)."""
    grid_power_w: float | None = None
    """The live grid meter (import positive), when one is configured."""
    operator_limit: OperatorLimit | None = None
    """The grid operator's limit in force (§14a), if any."""
    ledgers: tuple[Ledger, ...] = ()
    """Every EV's realized totals (live objects: the site sensors sum them)."""
    dispatches: tuple[dict[str, Any], ...] = ()
    """The dispatches running during this update (`Dispatch.to_json`)."""
    capacity: CapacityStatus | None = None
    """The month's capacity tariff peaks (None without a capacity tariff)."""

    def vehicle_index(self, charger_id: str) -> int | None:
        """Where a charger's EV is in the joint plan (None: not planned)."""
        return None if self.plan is None else self.plan.index(charger_id)

    def money(self, charger_id: str) -> VehicleMoney | None:
        """A charger's EV's share of the plan's money."""
        index = self.vehicle_index(charger_id)
        return None if index is None or self.plan is None else self.plan.money[index]


class SiteCoordinator(DataUpdateCoordinator[SiteData]):
    """Reads the chargers, plans, and applies each first slot's setpoint, every update."""

    config_entry: V2GConfigEntry

    def __init__(self, hass: HomeAssistant, entry: V2GConfigEntry) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=UPDATE_INTERVAL,
            # Chargers that push (OCPP) ask for refreshes; follow them within a second.
            request_refresh_debouncer=Debouncer(
                hass, LOGGER, cooldown=PUSH_REFRESH_COOLDOWN_S, immediate=True
            ),
        )
        self.chargers: dict[str, Charger] = {}
        self.inputs = InputCollector(hass, InputsConfig.from_options(entry.options))
        ven_config(entry.options)  # unusable OpenADR options fail the setup, as the inputs do
        self._plan_failed = False
        self._control_lock = asyncio.Lock()
        self._stopped = False
        self._base_w: dict[str, float] = {}
        """Each charger's setpoint before the frequency response (the plan's, corrected)."""
        self._local_curves: dict[str, WattCurve] = {}
        """The frequency-watt curve each charger that answers frequency itself follows."""
        self._kept_response: tuple[float, float] | None = None
        """The frequency response (under-, over-frequency W) the latest plan keeps now."""
        self._unsub_frequency: Callable[[], None] | None = None
        self.frequency_latency_s: deque[float] = deque(maxlen=1000)
        """Frequency change to applied setpoints, for the latest responses (benchmark)."""
        self.operator_limit: OperatorLimit | None = None
        """The grid operator's limit read at the start of the update under way."""
        self.peaks: PeakHistory | None = None
        self.capacity_tariff: CapacityTariff | None = None
        """The site's capacity tariff with the month's peaks, as of the update under way."""
        self._capacity_setup()
        self._operator_log = OperatorLimitLog()
        self.dispatches = Dispatches()
        """Dispatch windows given by `v2g.dispatch` (running or to come)."""
        self.dispatch_store = DispatchStore(hass, entry.entry_id)
        self.dispatch_listeners: list[Callable[[DispatchEvent, dict[str, Any]], None]] = []
        """The event entity's callbacks."""
        self._last_problem: tuple[Problem, list[str]] | None = None
        """The last update's problem without dispatches, and its vehicles' charger ids."""
        self._last_tick: datetime | None = None
        self._last_power_w: dict[str, float] = {}
        """Each charger's power reported at the last update, for dispatch energy."""
        self.ven: SiteVen | None = None
        """The site's OpenADR VEN (None while no VTN is configured); see `async_start_ven`."""
        self._energy_seen: dict[str, tuple[float, float]] = {}
        """Each charger's energy counters at the last update (the VEN's usage reports)."""

    @property
    def currency(self) -> str:
        """The price source's currency, else Home Assistant's."""
        inputs = self.data.inputs if self.data else None
        return (inputs.currency if inputs else None) or self.hass.config.currency

    def options_changed(self) -> None:
        """Read the site's options again (inputs are rebuilt; limits are read every update)."""
        self.inputs = InputCollector(
            self.hass, InputsConfig.from_options(self.config_entry.options)
        )
        self._capacity_setup()
        self.async_watch_frequency()
        if self.ven is None or self.ven.config != ven_config(self.config_entry.options):
            self.async_start_ven()

    def _capacity_setup(self) -> None:
        """The capacity tariff's meter history (when a tariff and a grid meter are set)."""
        options = self.config_entry.options
        tariff = tariff_from_options(options, self.hass.config.time_zone)
        entity_id = options.get(OPT_GRID_POWER_ENTITY)
        if tariff is None or not entity_id:
            self.peaks = None
        elif self.peaks is None or self.peaks.entity_id != entity_id:
            invert = bool(options.get(OPT_GRID_POWER_INVERT, False))
            self.peaks = PeakHistory(self.hass, entity_id, invert)

    async def _async_capacity_tariff(self, now: datetime) -> CapacityTariff | None:
        """The site's capacity tariff with this month's measured peaks (None: no tariff)."""
        tariff = tariff_from_options(self.config_entry.options, self.hass.config.time_zone)
        if tariff is None or self.peaks is None:
            return tariff
        return await self.peaks.async_tariff(tariff, now)

    # --- one update -----------------------------------------------------------------------

    async def _async_update_data(self) -> SiteData:
        now = dt_util.now()
        chargers = list(self.chargers.values())
        states, errors = await self._async_read_all(chargers)
        self.capacity_tariff = await self._async_capacity_tariff(now)
        self.operator_limit = self._read_operator_limit()
        departures = [c.departure(states[c.subentry_id], now).at for c in chargers]
        inputs = await self._async_inputs(chargers, now, departures)
        decisions = {c.subentry_id: self._rule(c, states[c.subentry_id], now) for c in chargers}
        planned = [c for c in chargers if decisions[c.subentry_id] is None and inputs is not None]
        plan = None
        self._last_problem = None  # a dispatch is checked against this update's plan only
        if planned and inputs is not None:
            plan = await self._async_plan(planned, states, decisions, inputs, now)
        for charger in planned:
            decision = self._from_plan(charger, states, plan)
            if plan is not None and plan.index(charger.subentry_id) is not None:
                dispatch = self.dispatches.for_charger(charger.subentry_id, now)
                if dispatch is not None:
                    decision = replace(decision, reason=Reason.DISPATCHED, dispatch_id=dispatch.id)
            decisions[charger.subentry_id] = decision
        planned_export_w = None if plan is None else float(plan.plan.grid_export_w[0])
        planned_import_w = None if plan is None else float(plan.plan.grid_import_w[0])
        dispatched = [
            d for d in decisions.values() if d is not None and d.reason is Reason.DISPATCHED
        ]
        if dispatched:
            planned_import_w = None  # a dispatch is kept, not bent to follow the house
        if any(d.setpoint_w < 0 for d in dispatched):
            planned_export_w = None  # a dispatched discharge is kept whatever the house draws
        final = self._within_grid_limits(
            chargers,
            states,
            decisions,
            planned_export_w,
            planned_import_w=planned_import_w,
            plan=plan,
        )
        self._base_w = {charger_id: d.setpoint_w for charger_id, d in final.items()}
        self._kept_response = kept_response_now(plan)
        self._local_curves = self._frequency_curves(chargers, states, final)
        final = self._with_frequency_response(chargers, states, final, self._frequency_hz())
        applied = await self._async_apply_all(chargers, states, final)
        states = await self._async_reread_changed(chargers, states, applied)
        grid_power_w = self.inputs.read_grid_power_w()
        self._account(chargers, states, inputs, grid_power_w)
        await self._async_track_dispatches(chargers, states, now)
        if self.ven is not None:
            self.ven.record_usage(dt_util.utcnow(), self._ev_energy_kwh(chargers, states))
        if self.peaks is not None:
            self.peaks.add_live(now, grid_power_w)
        capacity = None
        if self.capacity_tariff is not None:
            capacity = capacity_status(
                self.capacity_tariff,
                now,
                plan.plan if plan else None,
                plan.baseline_import_w if plan else None,
            )
        return SiteData(
            chargers={
                c.subentry_id: ChargerData(
                    state=states[c.subentry_id],
                    decision=final[c.subentry_id],
                    applied_setpoint_w=applied.get(c.subentry_id, 0.0),
                    departure=c.departure(states[c.subentry_id], now),
                    error=errors.get(c.subentry_id),
                )
                for c in chargers
            },
            updated_at=now,
            plan=plan,
            inputs=inputs,
            grid_power_w=grid_power_w,
            ledgers=tuple(c.ledger for c in chargers),
            operator_limit=self.operator_limit,
            dispatches=tuple(d.to_json() for d in self.dispatches.active(now)),
            capacity=capacity,
        )

    def _read_operator_limit(self) -> OperatorLimit | None:
        """The grid operator's limit in force this update (logged when it starts and ends)."""
        options = self.config_entry.options
        limit = read_operator_limit(
            self.hass,
            options.get(OPT_OPERATOR_LIMIT_ENTITY),
            float(options.get(OPT_OPERATOR_CHARGER_LIMIT_W, DEFAULT_OPERATOR_CHARGER_LIMIT_W)),
        )
        if self.ven is not None:
            limit = combine_limits(limit, self.ven.operator_limit(dt_util.utcnow()))
        self._operator_log.track(limit)
        return limit

    def _ev_energy_kwh(
        self, chargers: list[Charger], states: dict[str, ChargerState | None]
    ) -> float:
        """The site's EVs' net energy since the last update (kWh, charging positive).

        The usage the OpenADR VEN reports to its VTN, from the chargers' energy counters.
        """
        total_kwh = 0.0
        for charger in chargers:
            if (state := states[charger.subentry_id]) is None:
                continue
            counters = (state.energy_charged_kwh, state.energy_discharged_kwh)
            before = self._energy_seen.get(charger.subentry_id, (None, None))
            self._energy_seen[charger.subentry_id] = counters
            total_kwh += counter_delta(before[0], counters[0])
            total_kwh -= counter_delta(before[1], counters[1])
        return total_kwh

    async def _async_read_all(
        self, chargers: list[Charger]
    ) -> tuple[dict[str, ChargerState | None], dict[str, str]]:
        """Every charger at once; one that does not answer is unavailable, the rest go on."""
        results = await asyncio.gather(*(c.async_read() for c in chargers), return_exceptions=True)
        states: dict[str, ChargerState | None] = {}
        errors: dict[str, str] = {}
        for charger, result in zip(chargers, results, strict=True):
            if isinstance(result, ChargerUnavailableError):
                states[charger.subentry_id] = None
                errors[charger.subentry_id] = str(result) or type(result).__name__
                self._log_unavailable(charger, errors[charger.subentry_id])
            elif isinstance(result, BaseException):
                raise result
            else:
                states[charger.subentry_id] = result
                self._log_unavailable(charger, None)
        return states, errors

    def _log_unavailable(self, charger: Charger, error: str | None) -> None:
        """Log once when a charger becomes unavailable and once when it is back."""
        was = self.data is not None and (
            (previous := self.data.chargers.get(charger.subentry_id)) is not None
            and previous.state is None
        )
        if error is not None and not was:
            LOGGER.warning("%s is unavailable: %s", charger.title, error)
        elif error is None and was:
            LOGGER.info("%s is available again", charger.title)

    async def _async_inputs(
        self, chargers: list[Charger], now: datetime, departures: list[datetime]
    ) -> Inputs | None:
        """Prices, solar and load once for the site (plans, price sensors, realized money)."""
        entry_id = self.config_entry.entry_id
        if not chargers:
            clear_repair_issues(self.hass, DOMAIN, entry_id)
            return None
        utc_now = dt_util.utcnow()
        inputs = await self.inputs.async_collect(
            planning_grid(now, departures),
            utc_now,
            openadr=self.ven.snapshot(utc_now) if self.ven is not None else None,
        )
        sync_repair_issues(self.hass, DOMAIN, entry_id, inputs.problems)
        return inputs

    def _rule(self, charger: Charger, state: ChargerState | None, now: datetime) -> Decision | None:
        """The decision without a plan, or None when the plan decides for this charger."""
        if (idle := _idle_reason(state)) is not None:
            return Decision(0.0, idle)
        assert state is not None
        settings = charger.settings
        if self._sync_cannot_charge(charger, state):
            decision = decide(state, settings, now)
            return Decision(0.0, Reason.CANNOT_CHARGE) if decision.setpoint_w > 0 else decision
        if settings.mode not in SMART_MODES or not state.plugged_in:
            return decide(state, settings, now)
        if charger.missed_departure(state, now):
            # Still here after the departure time, below the target: the driver is late and
            # needs the energy now, not at tomorrow's cheapest hours.
            return replace(decide(state, settings, now), reason=Reason.MISSED_DEPARTURE)
        return None

    def _sync_cannot_charge(self, charger: Charger, state: ChargerState) -> bool:
        """A repair issue while the EV takes less than the charger's lowest power."""
        minimum_w = charger.backend.capabilities.min_charge_power_w
        cannot = state.plugged_in and 0 < state.max_charge_power_w < minimum_w
        issue_id = f"cannot_charge.{charger.subentry_id}"
        if cannot:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="cannot_charge",
                translation_placeholders={
                    "charger": charger.title,
                    "ev_max_w": f"{state.max_charge_power_w:.0f}",
                    "min_w": f"{minimum_w:.0f}",
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        return cannot

    async def _async_plan(
        self,
        planned: list[Charger],
        states: dict[str, ChargerState | None],
        decisions: dict[str, Decision | None],
        inputs: Inputs,
        now: datetime,
    ) -> PlanResult | None:
        """One plan for every EV the plan steers; the others' fixed power counts as load."""
        options = self.config_entry.options
        vehicles = []
        assumed = []
        for charger in planned:
            state = states[charger.subentry_id]
            assert state is not None  # planned chargers answered
            vehicle, soc_assumed = build_vehicle(
                name=charger.subentry_id,
                state=state,
                capabilities=charger.backend.capabilities,
                settings=charger.settings,
                departure=charger.departure(state, now).at,
                options=options,
                charge_cap_w=self.operator_limit.charger_limit_w if self.operator_limit else None,
            )
            vehicles.append(vehicle)
            assumed.append(soc_assumed)
        load_w = inputs.base_load_power_w.copy()
        for charger_id, decision in decisions.items():
            state = states[charger_id]
            if decision is None or state is None or decision.setpoint_w <= 0:
                continue
            energy = energy_needed_kwh(state, self.chargers[charger_id].settings)
            load_w += fixed_load_w(inputs.grid, decision.setpoint_w, energy)
        problem = build_problem(
            vehicles=vehicles,
            options=options,
            grid=inputs.grid,
            import_price_per_kwh=inputs.import_price_per_kwh,
            export_price_per_kwh=inputs.export_price_per_kwh,
            solar_w=inputs.solar_power_w,
            load_w=load_w,
            operator_import_w=(
                self.operator_limit.site_import_limit_w if self.operator_limit else None
            ),
            operator_export_w=(
                self.operator_limit.site_export_limit_w if self.operator_limit else None
            ),
            capacity_tariff=self.capacity_tariff,
        )
        if self.ven is not None:
            problem = with_announced_limits(problem, self.ven.snapshot(dt_util.utcnow()))
        if (droop := self.droop()) is not None:
            problem = with_frequency_offer(
                problem,
                droop,
                dt_util.get_default_time_zone(),
                duration_h=float(self.config_entry.options.get(OPT_FREQ_DURATION_MIN, 15)) / 60.0,
                price_per_kw_h=self._reserve_prices(inputs.grid),
            )
        ids = [c.subentry_id for c in planned]
        self._last_problem = (problem, ids)
        problem = with_dispatches(problem, self.dispatches.items, ids)
        try:
            result = await self.hass.async_add_executor_job(make_plan, problem, ids, assumed)
        except Exception:  # the driver must never be stranded by a solver bug
            if not self._plan_failed:
                LOGGER.exception("Planning failed; charging at full power until it works again")
            self._plan_failed = True
            return None
        if self._plan_failed:
            LOGGER.info("Planning works again")
            self._plan_failed = False
        return result

    @staticmethod
    def _from_plan(
        charger: Charger, states: dict[str, ChargerState | None], plan: PlanResult | None
    ) -> Decision:
        """The plan's first slot for this charger; the plain rule when planning failed."""
        state = states[charger.subentry_id]
        assert state is not None
        index = None if plan is None else plan.index(charger.subentry_id)
        if plan is None or index is None:
            # Planning failed: the plain rule keeps the driver's target (never discharges).
            return decide(state, charger.settings, dt_util.now())
        setpoint_w = plan.plan.vehicles[index].setpoint_w
        return decide_from_plan(setpoint_w, state, charger.settings)

    def _follow_limits(
        self, charger_id: str, plan: PlanResult | None
    ) -> tuple[float | None, float | None, float]:
        """How far a planned EV may follow the meter now.

        The most it may charge and discharge (its plan's own limits, less the frequency response
        the plan keeps available) and how much charging may be cut (what later slots make up);
        None, None, 0 for an EV outside the plan (its setpoint is its limit).
        """
        index = None if plan is None else plan.index(charger_id)
        if plan is None or index is None or self._last_problem is None:
            return None, None, 0.0
        problem, ids = self._last_problem
        charge_w, discharge_w = follow_limits_w(problem.vehicles[ids.index(charger_id)])
        if (kept := kept_response_now(plan)) is not None:
            # The frequency response the plan keeps available stays available.
            charge_w = max(0.0, charge_w - kept[1])
            discharge_w = max(0.0, discharge_w - kept[0])
        vehicle_plan = plan.plan.vehicles[index]
        return charge_w, discharge_w, makeup_w(vehicle_plan, charge_w, plan.plan.grid.durations_h)

    def _within_grid_limits(
        self,
        chargers: list[Charger],
        states: dict[str, ChargerState | None],
        decisions: dict[str, Decision | None],
        planned_export_w: float | None = None,
        *,
        planned_import_w: float | None = None,
        plan: PlanResult | None = None,
    ) -> dict[str, Decision]:
        """Keep the setpoints within the operator's limit, then within the meter's reading.

        The live grid meter (when one is configured) corrects all of them at once; discharging
        exports at most what the plan meant to export now (`planned_export_w`, None: no plan).
        Where the plan meant to import nothing now (`planned_import_w`), the planned EVs follow
        the real solar surplus and house load within the plan's own power limits
        (`decision.follow_meter`).
        """
        final = {charger_id: d or Decision(0.0, Reason.OFF) for charger_id, d in decisions.items()}
        operator = self.operator_limit
        if operator is not None and operator.charger_limit_w is not None:
            cap_w = operator.charger_limit_w
            for charger_id, decision in final.items():
                if decision.setpoint_w > cap_w:
                    final[charger_id] = replace(
                        decision, setpoint_w=cap_w, limited_by_operator=True
                    )
        grid_power_w = self.inputs.read_grid_power_w()
        online = [c for c in chargers if states[c.subentry_id] is not None]
        if grid_power_w is None or not any(final[c.subentry_id].setpoint_w for c in online):
            return final
        limits = site_limits(
            self.config_entry.options,
            operator.site_import_limit_w if operator else None,
            operator.site_export_limit_w if operator else None,
        )
        shares = []
        for charger in online:
            state = states[charger.subentry_id]
            assert state is not None
            capabilities = charger.backend.capabilities
            max_charge_w, max_discharge_w, max_cut_w = self._follow_limits(
                charger.subentry_id, plan
            )
            shares.append(
                GridShare(
                    setpoint_w=final[charger.subentry_id].setpoint_w,
                    power_w=state.power_w,
                    priority=PRIORITY_WEIGHTS[charger.settings.priority],
                    min_charge_power_w=capabilities.min_charge_power_w,
                    min_discharge_power_w=capabilities.min_discharge_power_w,
                    max_charge_power_w=max_charge_w,
                    max_discharge_power_w=max_discharge_w,
                    max_cut_w=max_cut_w,
                )
            )
        limited = limit_site_to_grid(
            shares,
            grid_power_w=grid_power_w,
            import_limit_w=limits.import_limit_w,
            export_limit_w=limits.export_limit_w,
            export_allowed=limits.export_allowed,
            planned_export_w=planned_export_w,
            planned_import_w=planned_import_w,
        )
        for charger, setpoint_w in zip(online, limited, strict=True):
            decision = final[charger.subentry_id]
            if abs(setpoint_w - decision.setpoint_w) >= 1.0:
                final[charger.subentry_id] = replace(
                    decision, setpoint_w=setpoint_w, limited_by_grid=True
                )
        return final

    async def _async_apply_all(
        self,
        chargers: list[Charger],
        states: dict[str, ChargerState | None],
        decisions: dict[str, Decision],
    ) -> dict[str, float]:
        """Send every available charger its setpoint, at once; nothing after the stop latch."""
        online = [c for c in chargers if states[c.subentry_id] is not None]
        async with self._control_lock:
            if self._stopped:
                return dict.fromkeys((c.subentry_id for c in online), 0.0)
            applied = await asyncio.gather(
                *(
                    c.async_apply_frequency(decisions[c.subentry_id].setpoint_w, curve)
                    if (curve := self._local_curves.get(c.subentry_id)) is not None
                    else c.async_apply(decisions[c.subentry_id].setpoint_w)
                    for c in online
                )
            )
        # A charger that refused its curve follows the plain setpoint: the software loop
        # answers for it from the next frequency change on.
        self._local_curves = {
            charger_id: curve
            for charger_id, curve in self._local_curves.items()
            if (charger := self.chargers.get(charger_id)) is not None and charger.local_frequency
        }
        return {c.subentry_id: value for c, value in zip(online, applied, strict=True)}

    async def _async_reread_changed(
        self,
        chargers: list[Charger],
        states: dict[str, ChargerState | None],
        applied: dict[str, float],
    ) -> dict[str, ChargerState | None]:
        """Show the effect of a new setpoint at once, not one update later."""
        previous = self.data.chargers if self.data else {}
        changed = [
            c
            for c in chargers
            if c.subentry_id in applied
            and c.applied_w is not None
            and (
                (before := previous.get(c.subentry_id)) is None
                or before.applied_setpoint_w != applied[c.subentry_id]
            )
        ]
        if not changed:
            return states
        results = await asyncio.gather(*(c.async_read() for c in changed), return_exceptions=True)
        fresh = dict(states)
        for charger, result in zip(changed, results, strict=True):
            if isinstance(result, ChargerState):
                fresh[charger.subentry_id] = result
        return fresh

    def _account(
        self,
        chargers: list[Charger],
        states: dict[str, ChargerState | None],
        inputs: Inputs | None,
        grid_power_w: float | None,
    ) -> None:
        """Count what each EV's energy since the last update cost or earned, at today's prices."""
        if inputs is None:
            return
        online = [(c, state) for c in chargers if (state := states[c.subentry_id]) is not None]
        charging_w = sum(max(0.0, state.power_w) for _, state in online)
        discharging_w = sum(max(0.0, -state.power_w) for _, state in online)
        solar_share, export_share = site_shares(
            grid_power_w=grid_power_w,
            charging_w=charging_w,
            discharging_w=discharging_w,
            solar_w=float(inputs.solar_power_w[0]),
            load_w=float(inputs.base_load_power_w[0]),
        )
        prices = Prices(
            import_per_kwh=float(inputs.import_price_per_kwh[0]),
            export_per_kwh=float(inputs.export_price_per_kwh[0]),
            solar_share=solar_share,
            export_share=export_share,
        )
        options = self.config_entry.options
        efficiency = (
            option(options, OPT_CHARGE_EFFICIENCY_PCT) / 100.0,
            option(options, OPT_DISCHARGE_EFFICIENCY_PCT) / 100.0,
        )
        arrival_prices = list(
            zip(
                (float(h) for h in inputs.grid.durations_h),
                (float(p) for p in inputs.import_price_per_kwh),
                strict=True,
            )
        )
        for charger, state in online:
            ledger = charger.ledger
            ledger.capacity_kwh = charger.settings.capacity_kwh
            if state.plugged_in:
                ledger.plug_in(
                    max_power_w=min(charger.settings.max_charge_power_w, state.max_charge_power_w),
                    arrival_prices=arrival_prices,
                    charge_efficiency=efficiency[0],
                    discharge_efficiency=efficiency[1],
                )
            ledger.record(
                state.energy_charged_kwh,
                state.energy_discharged_kwh,
                prices,
                option(options, OPT_WEAR_COST_PER_KWH),
            )
            if not state.plugged_in:
                ledger.unplug()
            charger.ledger_store.changed()

    # --- dispatch -------------------------------------------------------------------------------

    async def async_load_dispatches(self) -> None:
        """The stored dispatches (a restart inside a window keeps it; ended ones are dropped)."""
        self.dispatches = await self.dispatch_store.async_load(dt_util.now())

    def _fire(self, kind: DispatchEvent, dispatch: Dispatch) -> None:
        attributes = {
            "id": dispatch.id,
            "mode": dispatch.mode.value,
            "power_w": dispatch.power_w,
            "charger": self._charger_title(dispatch.charger_id),
            "start": dispatch.start.isoformat(),
            "end": dispatch.end.isoformat(),
            "delivered_kwh": round(dispatch.delivered_kwh, 3),
        }
        for listener in self.dispatch_listeners:
            listener(kind, attributes)

    def _charger_title(self, charger_id: str | None) -> str | None:
        charger = self.chargers.get(charger_id) if charger_id else None
        return None if charger is None else charger.title

    async def _async_track_dispatches(
        self, chargers: list[Charger], states: dict[str, ChargerState | None], now: datetime
    ) -> None:
        """Count delivered energy, send the start and end events, forget ended dispatches.

        The energy of the time since the last update is the power the chargers reported then
        (after their setpoints were applied), over the part of that time inside the window.
        """
        last_tick, last_power = self._last_tick, self._last_power_w
        self._last_tick = now
        self._last_power_w = {
            charger.subentry_id: state.power_w
            for charger in chargers
            if (state := states[charger.subentry_id]) is not None
        }
        changed = counted = False
        for dispatch in list(self.dispatches.items):
            if dispatch.started and last_tick is not None:
                inside_s = (min(now, dispatch.end) - max(last_tick, dispatch.start)).total_seconds()
                power_w = sum(
                    power
                    for charger_id, power in last_power.items()
                    if dispatch.charger_id in {None, charger_id}
                )
                direction = 1.0 if dispatch.power_w >= 0 else -1.0
                if inside_s > 0:
                    dispatch.delivered_kwh += direction * power_w * inside_s / 3.6e6
                    counted = True
            if dispatch.active(now) and not dispatch.started:
                dispatch.started = True
                changed = True
                LOGGER.info(
                    "Dispatch %s started: %s W (%s) until %s",
                    dispatch.id,
                    round(dispatch.power_w),
                    dispatch.mode.value,
                    dispatch.end.isoformat(),
                )
                self._fire(DispatchEvent.STARTED, dispatch)
            elif dispatch.end <= now:
                self.dispatches.items.remove(dispatch)
                changed = True
                if dispatch.started:
                    LOGGER.info(
                        "Dispatch %s ended: %.3f kWh delivered", dispatch.id, dispatch.delivered_kwh
                    )
                    self._fire(DispatchEvent.ENDED, dispatch)
        if changed:
            await self.dispatch_store.async_save(self.dispatches)
        elif counted:
            self.dispatch_store.schedule_save(self.dispatches)

    async def async_add_dispatch(self, dispatch: Dispatch) -> None:
        """Check a new dispatch against the plan, then keep it and re-plan.

        Raises `ServiceValidationError` before anything changes when a `must` dispatch would
        miss its power (the reserve, the fuse or the charger's range forbid it) or cost an EV a
        departure target the plan reaches without it.
        """
        if dispatch.mode is DispatchMode.MUST:
            await self._async_check(dispatch)
        old = self.dispatches.get(dispatch.id)
        if old is not None:
            self.dispatches.items.remove(old)
        self.dispatches.items.append(dispatch)
        await self.dispatch_store.async_save(self.dispatches)
        LOGGER.info(
            "Dispatch %s accepted: %s W (%s) from %s to %s",
            dispatch.id,
            round(dispatch.power_w),
            dispatch.mode.value,
            dispatch.start.isoformat(),
            dispatch.end.isoformat(),
        )
        await self.async_refresh()

    async def async_cancel_dispatch(self, dispatch: Dispatch) -> None:
        """Forget a dispatch (the cancelled event tells what it delivered) and re-plan."""
        self.dispatches.items.remove(dispatch)
        await self.dispatch_store.async_save(self.dispatches)
        LOGGER.info("Dispatch %s cancelled", dispatch.id)
        self._fire(DispatchEvent.CANCELLED, dispatch)
        await self.async_refresh()

    async def _async_check(self, dispatch: Dispatch) -> None:
        if self._last_problem is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="dispatch_no_plan",
                translation_placeholders={"site": self.config_entry.title},
            )
        problem, ids = self._last_problem
        if dispatch.charger_id is not None and dispatch.charger_id not in ids:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="dispatch_not_planned",
                translation_placeholders={
                    "charger": self._charger_title(dispatch.charger_id) or ""
                },
            )
        others = [d for d in self.dispatches.items if d.id != dispatch.id]
        before, after = await self.hass.async_add_executor_job(
            _solve_both,
            with_dispatches(problem, others, ids),
            with_dispatches(problem, [*others, dispatch], ids),
        )
        lost = [
            self._charger_title(charger_id) or charger_id
            for charger_id, was, now in zip(ids, before.vehicles, after.vehicles, strict=True)
            if was.target_reachable and not now.target_reachable
        ]
        if lost:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="dispatch_costs_target",
                translation_placeholders={"chargers": ", ".join(lost)},
            )
        unmet = after.dispatch_unmet_kwh - before.dispatch_unmet_kwh
        # A site dispatch beyond an announced capacity limit is clipped to it in the plan:
        # what the limit leaves out counts as unmet.
        unmet += beyond_site_bounds_kwh(problem, dispatch)
        if after.strategy.endswith("(solver fallback)"):  # no plan keeps it (conflicting bounds)
            unmet = max(unmet, dispatch_energy_kwh(dispatch))
        if unmet > DISPATCH_UNMET_KWH:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="dispatch_infeasible",
                translation_placeholders={"unmet_kwh": f"{unmet:.2f}"},
            )

    # --- frequency response -----------------------------------------------------------------

    def droop(self) -> Droop | None:
        """The offered frequency response, or None when the site offers none."""
        options = self.config_entry.options
        if not options.get(OPT_FREQ_SENSOR):
            return None
        return Droop(
            deadband_hz=float(options.get(OPT_FREQ_DEADBAND_MHZ, 20.0)) / 1000.0,
            full_hz=float(options.get(OPT_FREQ_FULL_MHZ, 200.0)) / 1000.0,
            max_up_w=float(options.get(OPT_FREQ_MAX_UP_W, 0.0)),
            max_down_w=float(options.get(OPT_FREQ_MAX_DOWN_W, 0.0)),
            start=time.fromisoformat(str(options.get(OPT_FREQ_START) or "00:00")),
            end=time.fromisoformat(str(options.get(OPT_FREQ_END) or "00:00")),
        )

    def _frequency_hz(self) -> float | None:
        """The grid frequency now (Hz), when a sensor is configured and readable."""
        entity_id = self.config_entry.options.get(OPT_FREQ_SENSOR)
        if not entity_id or (state := self.hass.states.get(entity_id)) is None:
            return None
        value = to_float(state.state)
        if value is None:
            return None
        return value / 1000.0 if state.attributes.get("unit_of_measurement") == "mHz" else value

    @callback
    def async_watch_frequency(self) -> None:
        """Answer every change of the frequency sensor at once (not on the 30 s update)."""
        if self._unsub_frequency is not None:
            self._unsub_frequency()
            self._unsub_frequency = None
        if (entity_id := self.config_entry.options.get(OPT_FREQ_SENSOR)) is None:
            return

        @callback
        def _changed(event: Event[EventStateChangedData]) -> None:
            self.hass.async_create_task(self._async_answer_frequency(event.time_fired_timestamp))

        self._unsub_frequency = async_track_state_change_event(self.hass, entity_id, _changed)

    # --- OpenADR -----------------------------------------------------------------------------

    @callback
    def async_start_ven(self) -> None:
        """Start (again) the site's OpenADR VEN as the options say; none without a VTN URL."""
        if self.ven is not None:
            self.ven.async_stop()
            self.ven = None
        if (config := ven_config(self.config_entry.options)) is None:
            return
        self.ven = SiteVen(self.hass, self.config_entry, config, self.async_request_refresh)
        self.ven.async_start()

    async def _async_answer_frequency(self, fired_at: float) -> None:
        """Apply the response to the frequency now on top of the last planned setpoints."""
        data = self.data  # watched only after the first refresh
        chargers = [c for c in self.chargers.values() if c.subentry_id in self._base_w]
        states = {c.subentry_id: data.chargers[c.subentry_id].state for c in chargers}
        base = {
            c.subentry_id: replace(
                data.chargers[c.subentry_id].decision,
                setpoint_w=self._base_w[c.subentry_id],
                frequency_response_w=0.0,
            )
            for c in chargers
        }
        final = self._with_frequency_response(chargers, states, base, self._frequency_hz())
        async with self._control_lock:
            if self._stopped:
                return
            await asyncio.gather(
                *(
                    c.async_apply(final[c.subentry_id].setpoint_w, FREQUENCY_DEADBAND_W)
                    for c in chargers
                    # Chargers with a curve answer on their own: their profile stays.
                    if states[c.subentry_id] is not None and c.subentry_id not in self._local_curves
                )
            )
        self.frequency_latency_s.append(max(0.0, dt_util.utcnow().timestamp() - fired_at))
        self.async_set_updated_data(
            replace(
                data,
                chargers={
                    cid: replace(
                        part, decision=final[cid], applied_setpoint_w=final[cid].setpoint_w
                    )
                    if cid in final
                    else part
                    for cid, part in data.chargers.items()
                },
            )
        )

    def _frequency_room(self, charger: Charger, state: ChargerState, decision: Decision) -> Room:
        """How far an EV's power may move from its setpoint for frequency, each way.

        No extra charging on a site already held by its grid connection or the operator, and
        never above the operator's per-charger cap.
        """
        settings = charger.settings
        discharge_w = (
            min(settings.max_discharge_power_w, state.max_discharge_power_w)
            if settings.allow_v2g and charger.backend.capabilities.bidirectional
            else 0.0
        )
        setpoint_w = decision.setpoint_w
        max_charge_w = min(settings.max_charge_power_w, state.max_charge_power_w)
        operator = self.operator_limit
        if decision.limited_by_grid or decision.limited_by_operator:
            max_charge_w = min(max_charge_w, max(0.0, setpoint_w))
        elif operator is not None and operator.charger_limit_w is not None:
            max_charge_w = min(max_charge_w, operator.charger_limit_w)
        return room(
            setpoint_w=setpoint_w,
            max_charge_w=max_charge_w,
            max_discharge_w=discharge_w,
            soc_pct=state.soc_pct,
            min_soc_pct=settings.min_soc_pct,
            max_soc_pct=max(
                option(self.config_entry.options, OPT_MAX_V2G_SOC_PCT), settings.target_soc_pct
            ),
        )

    def _offered_droop(self) -> Droop | None:
        """The site's droop when it is offered now.

        With a capacity price the plan decides how much is offered (and sold): the droop gives
        what the plan keeps available now, nothing where offering did not pay. Unpriced, the
        whole droop is offered, within each EV's room as always.
        """
        droop = self.droop()
        if droop is None or not droop.offered_at(dt_util.now()):
            return None
        if not self.config_entry.options.get(OPT_FREQ_PRICE_ENTITY):
            return droop
        # Priced: only what the plan keeps (and sells); without a plan that says, nothing.
        if (kept := self._kept_response) is None:
            return None
        return replace(droop, max_up_w=kept[0], max_down_w=kept[1])

    def _reserve_prices(self, grid: SlotGrid) -> npt.NDArray[np.float64] | None:
        """The capacity price for offered reserve per slot (None: no price entity, always offer).

        An entity that cannot be read prices nothing: the offer waits for a price.
        """
        entity_id = self.config_entry.options.get(OPT_FREQ_PRICE_ENTITY)
        if not entity_id:
            return None
        state = self.hass.states.get(entity_id)
        if state is None:
            return np.zeros(len(grid))
        return reserve_prices(
            to_float(state.state), state.attributes, grid, dt_util.get_default_time_zone()
        )

    def _frequency_curves(
        self,
        chargers: list[Charger],
        states: dict[str, ChargerState | None],
        decisions: dict[str, Decision],
    ) -> dict[str, WattCurve]:
        """The curve of each plugged-in EV whose charger answers frequency itself.

        The site's maximum response each way is shared between all its plugged-in EVs by their
        room around the plan's setpoints (as the software loop shares it), so a charger's curve
        gives its part of the site's droop; the rest is left to the software loop.
        """
        droop = self._offered_droop()
        if droop is None:
            return {}
        active: list[tuple[Charger, ChargerState]] = [
            (c, state)
            for c in chargers
            if (state := states.get(c.subentry_id)) is not None and state.plugged_in
        ]
        if not any(c.local_frequency for c, _state in active):
            return {}
        rooms = [self._frequency_room(c, state, decisions[c.subentry_id]) for c, state in active]
        up = share_response(-droop.max_up_w, rooms)
        down = share_response(droop.max_down_w, rooms)
        operator = self.operator_limit
        curves = {}
        for (charger, _state), up_w, down_w in zip(active, up, down, strict=True):
            if not charger.local_frequency:
                continue
            decision = decisions[charger.subentry_id]
            more_w = down_w
            # The charger answers on its own until the next update: no extra charging on a site
            # already held by its grid connection or the operator, never above the operator's cap.
            if decision.limited_by_grid or decision.limited_by_operator:
                more_w = 0.0
            elif operator is not None and operator.charger_limit_w is not None:
                more_w = min(more_w, max(0.0, operator.charger_limit_w - decision.setpoint_w))
            curves[charger.subentry_id] = watt_curve(droop, -up_w, more_w)
        return curves

    def _with_frequency_response(
        self,
        chargers: list[Charger],
        states: dict[str, ChargerState | None],
        decisions: dict[str, Decision],
        frequency_hz: float | None,
    ) -> dict[str, Decision]:
        """Add each plugged-in EV's share of the site's droop response to its setpoint.

        EVs whose chargers follow a curve (`_local_curves`) answer on their own: what their
        curves give at this frequency is taken off the site's response and the rest is shared
        between the others.
        """
        result = dict(decisions)
        for charger_id in self._local_curves:
            if charger_id in result:
                result[charger_id] = replace(result[charger_id], frequency_mode="local")
        droop = self._offered_droop()
        if droop is None:
            return result
        active = [
            c
            for c in chargers
            if (state := states.get(c.subentry_id)) is not None
            and state.plugged_in
            and c.subentry_id not in self._local_curves
        ]
        for charger in active:
            result[charger.subentry_id] = replace(
                result[charger.subentry_id], frequency_mode="software"
            )
        if frequency_hz is None or not active:
            return result
        response_w = droop.response_w(frequency_hz) - sum(
            curve_power_w(curve, frequency_hz) for curve in self._local_curves.values()
        )
        if response_w == 0 or (response_w > 0) != (droop.response_w(frequency_hz) > 0):
            return result  # the chargers with curves give it all
        rooms = []
        for charger in active:
            state = states[charger.subentry_id]
            assert state is not None
            rooms.append(self._frequency_room(charger, state, decisions[charger.subentry_id]))
        for charger, delta_w in zip(active, share_response(response_w, rooms), strict=True):
            decision = result[charger.subentry_id]
            setpoint_w = decision.setpoint_w + delta_w
            # A charger cannot deliver less than its minimum: the nearer of 0 and the minimum.
            minimum_w = charger.backend.capabilities.min_charge_power_w
            if 0 < setpoint_w < minimum_w:
                setpoint_w = minimum_w if setpoint_w >= minimum_w / 2 else 0.0
            result[charger.subentry_id] = replace(
                decision,
                setpoint_w=setpoint_w,
                frequency_response_w=setpoint_w - decision.setpoint_w,
            )
        return result

    # --- settings and lifecycle -----------------------------------------------------------

    async def async_settings_changed(self, charger: Charger, **changes: Any) -> None:
        """Store an EV's new settings and act on them at once."""
        charger.settings_store.update(**changes)
        # Not debounced: a user who flips the mode expects the charger to follow at once.
        await self.async_refresh()

    async def async_stop_charger(self, charger: Charger) -> None:
        """Leave one charger idle for good (it is being removed or rebuilt)."""
        async with self._control_lock:
            await charger.async_stop()

    async def async_shutdown_chargers(self) -> None:
        """Leave every charger safe for good: idle, and no setpoint sent after this.

        Called on unload and when Home Assistant stops. Refreshes are shut down first; a refresh
        already under way either sent its setpoints before the lock was taken (the stops below
        then replace them) or finds the latch set and sends nothing.
        """
        self._stopped = True
        if self._unsub_frequency is not None:
            self._unsub_frequency()
            self._unsub_frequency = None
        if self.ven is not None:
            self.ven.async_stop()
        await self.async_shutdown()
        async with self._control_lock:
            await asyncio.gather(*(c.async_stop() for c in self.chargers.values()))


def _solve_both(first: Problem, second: Problem) -> tuple[Plan, Plan]:
    """Two plans, in an executor thread."""
    return solve(first), solve(second)


def _idle_reason(state: ChargerState | None) -> Reason | None:
    """Why a charger is left idle whatever the plan: unanswered, paused by hand, not connected."""
    if state is None:
        return Reason.OFF
    if state.paused_by_charger:
        return Reason.PAUSED_BY_CHARGER
    if state.status is ChargerStatus.OFFLINE:
        return Reason.WAITING_FOR_CHARGER
    return None
