/**
 * V2G plan card: a Lovelace card for the V2G Smart Charging integration (domain `v2g`).
 *
 * It draws each EV's plan from its charger's plan sensor (`sensor.<charger>_plan`): the price of
 * every 15-minute slot, the planned charging (+) and discharging (-) power, the state of charge
 * with the target, the reserve and the departure, a "now" line, the slots whose price is only an
 * estimate, and one sentence saying why the charger does what it does. With several EVs the
 * site's planned grid import and export is drawn too.
 *
 * A plain JavaScript module: no build step, no libraries, SVG only. The integration serves this
 * file and loads it on every dashboard, so there is no resource to add by hand.
 *
 *   type: custom:v2g-plan-card
 *   entity: sensor.garage_plan          # one charger's plan sensor, or
 *   entities: [sensor.garage_plan, ...] # several (left out: every V2G plan sensor)
 *   title: Charging plan                # optional card title
 *   hours: 24                           # optional: how far ahead to draw (1-48, default 48)
 *   show_site: true                     # optional: the site's grid plan (default: with 2+ EVs)
 */

const DOMAIN = "v2g";
const CARD_TYPE = "v2g-plan-card";
const SLOT_MS = 15 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const MAX_HOURS = 48;
/** Below this magnitude (W) a planned power counts as no energy flowing (as in decision.py). */
const IDLE_W = 1;
const EN_DASH = "\u2013";

/* ---------------------------------------------------------------------------------------------
 * Finding the entities: the plan sensor sits on the charger's device; the EV's target and reserve
 * are number entities on the EV's device (whose via_device is the charger); the site's plan sensor
 * is on the site's device (the charger's via_device). All are found by translation key.
 * ------------------------------------------------------------------------------------------- */

function registryEntry(hass, entityId) {
  return (hass.entities || {})[entityId];
}

function isEntity(hass, entityId, domain, translationKey) {
  const entry = registryEntry(hass, entityId);
  return (
    entityId.startsWith(`${domain}.`) &&
    entry !== undefined &&
    entry.platform === DOMAIN &&
    entry.translation_key === translationKey
  );
}

/** Every V2G plan sensor, sorted by entity id. */
function planSensors(hass) {
  return Object.keys(hass.states || {})
    .filter((entityId) => isEntity(hass, entityId, "sensor", "plan"))
    .sort();
}

function entityOnDevice(hass, deviceId, domain, translationKey) {
  if (!deviceId) return undefined;
  const found = Object.values(hass.entities || {}).find(
    (entry) =>
      entry.device_id === deviceId && isEntity(hass, entry.entity_id, domain, translationKey),
  );
  return found ? found.entity_id : undefined;
}

function deviceName(hass, deviceId) {
  const device = deviceId ? (hass.devices || {})[deviceId] : undefined;
  return device ? device.name_by_user || device.name : undefined;
}

/** The entities around one plan sensor: the EV's numbers, the currency's sensor, the site's. */
function relatedEntities(hass, planId) {
  const chargerDevice = registryEntry(hass, planId)?.device_id;
  const devices = Object.values(hass.devices || {});
  const evDevice = chargerDevice && devices.find((d) => d.via_device_id === chargerDevice);
  const siteDevice = chargerDevice && (hass.devices || {})[chargerDevice]?.via_device_id;
  const friendly = hass.states[planId]?.attributes?.friendly_name;
  return {
    name: deviceName(hass, chargerDevice) || friendly || planId,
    target: entityOnDevice(hass, evDevice?.id, "number", "target_soc"),
    reserve: entityOnDevice(hass, evDevice?.id, "number", "min_soc"),
    soc: entityOnDevice(hass, evDevice?.id, "sensor", "soc"),
    cost: entityOnDevice(hass, chargerDevice, "sensor", "projected_cost"),
    site: entityOnDevice(hass, siteDevice, "sensor", "site_plan"),
    siteName: deviceName(hass, siteDevice),
  };
}

/** A number entity's value, or null while it is unavailable. */
function numericState(hass, entityId) {
  const value = entityId ? parseFloat(hass.states[entityId]?.state) : NaN;
  return Number.isFinite(value) ? value : null;
}

function finiteOrNull(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/* ---------------------------------------------------------------------------------------------
 * The schedules, as the plan sensors carry them: one entry per slot, the first starting now.
 * ------------------------------------------------------------------------------------------- */

/** Slots with start/end in ms; each ends where the next starts (the first one is shorter). */
function toSlots(schedule, read) {
  if (!Array.isArray(schedule)) return [];
  const starts = schedule.map((point) => Date.parse(point.start));
  const slots = [];
  schedule.forEach((point, i) => {
    if (!Number.isFinite(starts[i])) return;
    const end = Number.isFinite(starts[i + 1]) ? starts[i + 1] : starts[i] + SLOT_MS;
    slots.push({ start: starts[i], end, ...read(point) });
  });
  return slots;
}

function evSlots(stateObj) {
  return toSlots(stateObj?.attributes?.schedule, (point) => ({
    powerW: finiteOrNull(point.power_w) ?? 0,
    socPct: finiteOrNull(point.soc_pct),
    importPrice: finiteOrNull(point.import_price),
    exportPrice: finiteOrNull(point.export_price),
    estimated: point.estimated === true,
  }));
}

function siteSlots(stateObj) {
  return toSlots(stateObj?.attributes?.schedule, (point) => ({
    importW: finiteOrNull(point.import_w) ?? 0,
    exportW: finiteOrNull(point.export_w) ?? 0,
  }));
}

/** The run of consecutive slots from `from` on for which `test` holds: {first, last} or null. */
function nextRun(slots, from, test) {
  let first = from;
  while (first < slots.length && !test(slots[first])) first += 1;
  if (first >= slots.length) return null;
  let last = first;
  while (last + 1 < slots.length && test(slots[last + 1])) last += 1;
  return { first, last };
}

/** The energy-weighted mean import price over a run of slots. */
function meanPrice(slots, run) {
  let weighted = 0;
  let energy = 0;
  for (let i = run.first; i <= run.last; i += 1) {
    const slot = slots[i];
    if (slot.importPrice === null) continue;
    const kwh = (Math.abs(slot.powerW) * (slot.end - slot.start)) / HOUR_MS / 1000;
    weighted += slot.importPrice * kwh;
    energy += kwh;
  }
  return energy > 0 ? weighted / energy : null;
}

const charging = (slot) => slot.powerW > IDLE_W;
const discharging = (slot) => slot.powerW < -IDLE_W;

/* ---------------------------------------------------------------------------------------------
 * Formatting in the user's locale: number format, 12/24-hour clock, time zone (the browser's or
 * the server's, as the user chose in the profile) and the currency of the projected cost.
 * ------------------------------------------------------------------------------------------- */

function numberLocale(hass) {
  const language = hass.locale?.language || hass.language || navigator.language;
  switch (hass.locale?.number_format) {
    case "comma_decimal":
      return ["en-US", "en"];
    case "decimal_comma":
      return ["de", "es", "it"];
    case "space_comma":
      return ["fr", "sv", "cs"];
    case "system":
      return undefined;
    default:
      return language;
  }
}

function uses12HourClock(hass, language) {
  const choice = hass.locale?.time_format;
  if (choice === "12") return true;
  if (choice === "24") return false;
  const probe = new Intl.DateTimeFormat(choice === "system" ? undefined : language, {
    hour: "numeric",
  });
  return probe.formatToParts(new Date(2020, 0, 1, 13)).some((p) => p.type === "dayPeriod");
}

/** "€" for EUR in English, as the number format writes it. */
function currencySymbol(format) {
  return format.formatToParts(0).find((part) => part.type === "currency").value;
}

function makeFormat(hass, currency) {
  const language = hass.locale?.language || hass.language || navigator.language;
  const numbers = numberLocale(hass);
  const timeZone = hass.locale?.time_zone === "server" ? hass.config?.time_zone : undefined;
  const hour12 = uses12HourClock(hass, language);
  const clock = new Intl.DateTimeFormat(language, {
    hour: hour12 ? "numeric" : "2-digit",
    minute: "2-digit",
    hourCycle: hour12 ? "h12" : "h23",
    timeZone,
  });
  const weekday = new Intl.DateTimeFormat(language, { weekday: "short", timeZone });
  const parts = new Intl.DateTimeFormat("en-US", {
    hour: "numeric",
    minute: "numeric",
    hourCycle: "h23",
    timeZone,
  });
  const decimals = (digits) =>
    new Intl.NumberFormat(numbers, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
  const two = decimals(2);
  const one = new Intl.NumberFormat(numbers, { maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat(numbers, { style: "percent", maximumFractionDigits: 0 });
  const money = /^[A-Z]{3}$/.test(currency || "")
    ? new Intl.NumberFormat(numbers, {
        style: "currency",
        currency,
        minimumFractionDigits: 2,
        maximumFractionDigits: 2,
      })
    : null;
  return {
    /** "04:30" (or "4:30 AM"), with the weekday when it is more than 20 hours away. */
    time(ms, now = Date.now()) {
      const text = clock.format(ms);
      return ms - now > 20 * HOUR_MS ? `${weekday.format(ms)} ${text}` : text;
    },
    clock: (ms) => clock.format(ms),
    weekday: (ms) => weekday.format(ms),
    /** The local hour and minute of an instant, as numbers. */
    hourMinute(ms) {
      const p = Object.fromEntries(parts.formatToParts(ms).map((x) => [x.type, x.value]));
      return [Number(p.hour) % 24, Number(p.minute)];
    },
    /** A price per kWh: "€0.12/kWh" in English, "0,12 €/kWh" in German. */
    price(value) {
      if (money) return `${money.format(value)}/kWh`;
      return currency ? `${two.format(value)} ${currency}/kWh` : `${two.format(value)}/kWh`;
    },
    /** A price without its unit (axis labels, differences). */
    amount: (value) => two.format(value),
    /** A power's magnitude: "11 kW" (the sentence says which way it flows). */
    kw: (watts) => `${one.format(Math.abs(watts) / 1000)} kW`,
    /** A signed power for axis labels: "-10 kW" below the zero line. */
    kwSigned: (watts) => `${one.format(watts / 1000)} kW`,
    /** The unit of prices: "€/kWh" (the currency's symbol in the user's language). */
    priceUnit: `${money ? currencySymbol(money) : currency || ""}/kWh`,
    pct: (value) => percent.format(value / 100),
  };
}

/* ---------------------------------------------------------------------------------------------
 * One sentence of why, with the numbers (the same story as the plan sensor's reason).
 * ------------------------------------------------------------------------------------------- */

function explain({ stateObj, slots, target, fmt, now }) {
  const a = stateObj.attributes || {};
  const departure = Date.parse(a.departure);
  const when = Number.isFinite(departure) ? fmt.time(departure, now) : "?";
  const goal = target === null ? "the target" : fmt.pct(target);
  let text = why(stateObj.state, { a, slots, goal, when, fmt, now });
  if (a.target_reachable === false && finiteOrNull(a.best_reachable_soc_pct) !== null) {
    const best = fmt.pct(a.best_reachable_soc_pct);
    text = `Target at risk: best reachable ${best} by ${when}. ${text}`;
  }
  if (a.soc_assumed === true)
    text += " The EV reports no state of charge: planned from the reserve.";
  if (a.limited_by_operator === true) {
    const cap = finiteOrNull((a.operator_limit || {}).charger_w);
    text += cap === null ? " Limited by the grid operator." : ` Limited by the grid operator to ${fmt.kw(cap)}.`;
  }
  if (a.limited_by_grid === true) text += " Limited by the grid connection.";
  // Rounded as it is shown: no "0 kW more" for a response of a few watts.
  const response = Math.round((finiteOrNull(a.frequency_response_w) ?? 0) / 100) * 100;
  if (response >= 1) text += ` Frequency response: charging ${fmt.kw(response)} more (high grid frequency).`;
  if (response <= -1) text += ` Frequency response: ${fmt.kw(response)} less from the grid (low grid frequency).`;
  return text;
}

function why(reason, { a, slots, goal, when, fmt, now }) {
  const setpoint = finiteOrNull(a.setpoint_w) ?? 0;
  switch (reason) {
    case "off":
      return "Off: the charger is left idle.";
    case "not_plugged_in":
      return "No EV plugged in.";
    case "target_reached":
      return `Target ${goal} reached.`;
    case "charging_now":
      return `Charging now at ${fmt.kw(setpoint)} until ${goal}.`;
    case "missed_departure":
      return `Still here after the departure time below ${goal}: charging at ${fmt.kw(setpoint)}.`;
    case "cannot_charge":
      return "The EV takes less than the charger's lowest power: it cannot be charged.";
    case "dispatched": {
      const d = a.dispatch || {};
      const doing =
        setpoint > 1
          ? `charging at ${fmt.kw(setpoint)}`
          : setpoint < -1
            ? `discharging at ${fmt.kw(setpoint)}`
            : "idle";
      const end = Date.parse(d.end);
      const until = Number.isFinite(end) ? ` until ${fmt.clock(end)}` : "";
      const name = d.id ? ` (${d.id})` : "";
      return `Dispatched${name}: ${doing}${until}; the plan keeps ${goal} too.`;
    }
    case "unavailable":
    case "unknown":
      return "The plan is not available right now.";
    default:
      break;
  }
  if (slots.length === 0) return `Planned: ${goal} by ${when}.`;
  const span = (run) =>
    `${fmt.time(slots[run.first].start, now)}${EN_DASH}${fmt.clock(slots[run.last].end)}`;
  const nowPrice = slots[0].importPrice;
  const arrival = finiteOrNull(a.departure_soc_pct);
  const promise = arrival === null ? `${goal} by ${when}` : `${fmt.pct(arrival)} by ${when}`;
  if (reason === "charging") {
    const run = nextRun(slots, 0, charging);
    const price = run ? meanPrice(slots, run) : nowPrice;
    const until = run ? ` until ${fmt.clock(slots[run.last].end)}` : "";
    const cost = price === null ? "" : ` at ${fmt.price(price)}`;
    return `Charging now at ${fmt.kw(setpoint)}${until}${cost}; ${promise}.`;
  }
  if (reason === "discharging") {
    const run = nextRun(slots, 0, discharging);
    const until = run ? ` until ${fmt.clock(slots[run.last].end)}` : "";
    const exported = slots[0].exportPrice;
    const worth =
      nowPrice === null
        ? ""
        : `: energy is worth ${fmt.price(nowPrice)} now` +
          (exported !== null && exported !== nowPrice ? ` (${fmt.price(exported)} exported)` : "");
    const again = nextRun(slots, run ? run.last + 1 : 1, charging);
    const againPrice = again ? meanPrice(slots, again) : null;
    const later =
      again && againPrice !== null
        ? `; charging again ${span(again)} at ${fmt.price(againPrice)}`
        : "";
    return `Discharging at ${fmt.kw(setpoint)}${until}${worth}${later}.`;
  }
  // Waiting: when does it charge, and what does that save against now?
  const run = nextRun(slots, 0, charging);
  if (run === null) return `Waiting: no charging needed before ${when}.`;
  const cheap = meanPrice(slots, run);
  if (cheap === null) return `Waiting: charging ${span(run)}; ${promise}.`;
  const saving = nowPrice === null ? 0 : nowPrice - cheap;
  if (saving > 0.005) {
    return `Waiting: ${span(run)} costs ${fmt.price(cheap)}, ${fmt.amount(saving)} less than now.`;
  }
  return `Waiting: charging ${span(run)} at ${fmt.price(cheap)} (solar or cheaper hours).`;
}

/* ---------------------------------------------------------------------------------------------
 * Drawing: one SVG per panel, bands stacked on a shared time axis. Every function returns SVG
 * markup as a string; element classes and data-* attributes name what each shape means.
 * ------------------------------------------------------------------------------------------- */

const MARGIN = { left: 48, right: 10, top: 18, bottom: 22 };
const BAND = { price: 96, power: 64, soc: 104, grid: 72, gap: 22 };

function esc(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

const r1 = (value) => Math.round(value * 10) / 10;

/** "Nice" tick values covering [lo, hi], about `count` of them. */
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const values = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) {
    values.push(Math.abs(v) < step * 1e-6 ? 0 : v);
  }
  return values;
}

/** A vertical scale for a band: value -> y, with the domain widened to include zero. */
function scale(values, top, height, minSpan) {
  let lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi - lo < minSpan) hi = lo + minSpan;
  const y = (v) => top + height - ((v - lo) / (hi - lo)) * height;
  return { lo, hi, y };
}

function bandTitle(top, text) {
  return `<text class="band-title" x="${MARGIN.left}" y="${top - 7}">${esc(text)}</text>`;
}

function gridLines(chart, s, values, label) {
  return values
    .map((v) => {
      const y = r1(s.y(v));
      return (
        `<line class="grid${v === 0 ? " zero" : ""}" x1="${chart.left}" x2="${chart.right}" ` +
        `y1="${y}" y2="${y}"/>` +
        `<text class="tick" x="${chart.left - 6}" y="${y + 3.5}" text-anchor="end">` +
        `${esc(label(v))}</text>`
      );
    })
    .join("");
}

/** A slot's bar from the zero line to `value`; a pixel apart from the next when there is room. */
function bar(chart, s, slot, value, cls, data) {
  const x = chart.x(slot.start);
  const full = Math.max(chart.x(slot.end) - x, 0.5);
  const width = full >= 4 ? full - 1 : full;
  const y0 = s.y(0);
  const y1 = s.y(value);
  const attrs = Object.entries(data)
    .map(([key, v]) => ` data-${key}="${esc(v)}"`)
    .join("");
  return (
    `<rect class="bar ${cls}" x="${r1(x)}" y="${r1(Math.min(y0, y1))}" width="${r1(width)}" ` +
    `height="${r1(Math.abs(y1 - y0))}"${attrs}/>`
  );
}

/** Shading behind the slots whose import price is an estimate (merged into runs). */
function estimatedShading(chart, slots, top, height) {
  const shapes = [];
  let from = 0;
  while (from < slots.length) {
    const run = nextRun(slots, from, (slot) => slot.estimated);
    if (run === null) break;
    const x = chart.x(slots[run.first].start);
    const width = chart.x(slots[run.last].end) - x;
    shapes.push(
      `<rect class="shade" x="${r1(x)}" y="${top}" width="${r1(width)}" height="${height}" ` +
        `data-start="${slots[run.first].start}" data-end="${slots[run.last].end}"/>`,
    );
    from = run.last + 1;
  }
  return shapes.join("");
}

function priceBand(chart, slots, top, fmt) {
  const height = BAND.price;
  const priced = slots.filter((slot) => slot.importPrice !== null);
  const withExport = priced.some(
    (slot) => slot.exportPrice !== null && Math.abs(slot.exportPrice - slot.importPrice) > 1e-9,
  );
  const values = priced.flatMap((slot) =>
    withExport && slot.exportPrice !== null
      ? [slot.importPrice, slot.exportPrice]
      : [slot.importPrice],
  );
  const s = scale(values, top, height, 0.05);
  const parts = [
    bandTitle(top, `Price (${fmt.priceUnit})`),
    estimatedShading(chart, slots, top, height),
  ];
  parts.push(gridLines(chart, s, ticks(s.lo, s.hi, 3), fmt.amount));
  // Import and export share the slot's width: the longer bar behind, the shorter in front, so
  // the end of each colour is its price.
  for (const slot of priced) {
    const cls = `import${slot.estimated ? " estimated" : ""}`;
    const importBar = bar(chart, s, slot, slot.importPrice, cls, { price: slot.importPrice });
    if (!withExport || slot.exportPrice === null) {
      parts.push(importBar);
      continue;
    }
    const exportBar = bar(chart, s, slot, slot.exportPrice, "export", {
      price: slot.exportPrice,
    });
    parts.push(
      ...(Math.abs(slot.exportPrice) > Math.abs(slot.importPrice)
        ? [exportBar, importBar]
        : [importBar, exportBar]),
    );
  }
  return {
    svg: parts.join(""),
    height,
    legend: { withExport, estimated: slots.some((x) => x.estimated) },
  };
}

function powerBand(chart, slots, top, fmt) {
  const height = BAND.power;
  const s = scale(
    slots.map((slot) => slot.powerW / 1000),
    top,
    height,
    1,
  );
  const parts = [
    bandTitle(top, "Power"),
    gridLines(chart, s, ticks(s.lo, s.hi, 4), (v) => fmt.kwSigned(v * 1000)),
  ];
  for (const slot of slots) {
    if (charging(slot) || discharging(slot)) {
      const cls = charging(slot) ? "charge" : "discharge";
      parts.push(bar(chart, s, slot, slot.powerW / 1000, cls, { power: slot.powerW }));
    }
  }
  return {
    svg: parts.join(""),
    height,
    legend: { charge: slots.some(charging), discharge: slots.some(discharging) },
  };
}

/** A dashed level across the band with its name at the right end. */
function level(chart, s, value, cls, name) {
  const y = r1(s.y(value));
  return (
    `<line class="level ${cls}" x1="${chart.left}" x2="${chart.right}" y1="${y}" y2="${y}" ` +
    `data-soc="${value}"/>` +
    `<text class="level-label ${cls}" x="${chart.right - 2}" y="${y - 4}" text-anchor="end">` +
    `${esc(name)}</text>`
  );
}

function socBand(chart, slots, top, ctx) {
  const { fmt, target, reserve, socNow, departure } = ctx;
  const height = BAND.soc;
  const s = { lo: 0, hi: 100, y: (v) => top + height - (v / 100) * height };
  const parts = [bandTitle(top, "State of charge")];
  parts.push(gridLines(chart, s, [0, 50, 100], fmt.pct));
  if (reserve !== null)
    parts.push(level(chart, s, reserve, "reserve", `Reserve ${fmt.pct(reserve)}`));
  if (target !== null) parts.push(level(chart, s, target, "target", `Target ${fmt.pct(target)}`));
  // The path: now (when the EV reports it), then each slot's end.
  const points = [];
  if (socNow !== null && slots.length) points.push([chart.x(slots[0].start), s.y(socNow)]);
  for (const slot of slots) {
    if (slot.socPct !== null) points.push([chart.x(slot.end), s.y(slot.socPct)]);
  }
  if (points.length) {
    const list = points.map(([x, y]) => `${r1(x)},${r1(y)}`).join(" ");
    parts.push(`<polyline class="soc" points="${list}"/>`);
  }
  const atDeparture = socAt(slots, departure);
  if (atDeparture !== null && chart.contains(departure)) {
    parts.push(
      `<circle class="soc-dot" cx="${r1(chart.x(departure))}" cy="${r1(s.y(atDeparture))}" ` +
        `r="3.5" ` +
        `data-soc="${r1(atDeparture)}"/>`,
    );
  }
  return { svg: parts.join(""), height, legend: { soc: points.length > 0, target, reserve } };
}

/** The planned state of charge at an instant: that of the slot ending at or after it. */
function socAt(slots, instant) {
  if (!Number.isFinite(instant)) return null;
  const slot = slots.find((x) => x.end >= instant && x.socPct !== null);
  return slot ? slot.socPct : null;
}

function gridBand(chart, slots, top, fmt) {
  const height = BAND.grid;
  const s = scale(
    slots.flatMap((slot) => [slot.importW / 1000, -slot.exportW / 1000]),
    top,
    height,
    1,
  );
  const parts = [
    bandTitle(top, "Grid"),
    gridLines(chart, s, ticks(s.lo, s.hi, 4), (v) => fmt.kwSigned(v * 1000)),
  ];
  for (const slot of slots) {
    if (slot.importW > IDLE_W)
      parts.push(bar(chart, s, slot, slot.importW / 1000, "grid-import", { power: slot.importW }));
    if (slot.exportW > IDLE_W)
      parts.push(
        bar(chart, s, slot, -slot.exportW / 1000, "grid-export", { power: -slot.exportW }),
      );
  }
  return {
    svg: parts.join(""),
    height,
    legend: {
      gridImport: slots.some((x) => x.importW > IDLE_W),
      gridExport: slots.some((x) => x.exportW > IDLE_W),
    },
  };
}

/** Hour ticks along the bottom: every 1, 2, 3, 6, 12 or 24 h so that labels do not collide. */
function timeAxis(chart, bottom, fmt) {
  const pxPerHour = (chart.right - chart.left) / ((chart.t1 - chart.t0) / HOUR_MS);
  const every = [1, 2, 3, 6, 12, 24].find((h) => h * pxPerHour >= 52) || 24;
  const parts = [];
  for (let t = Math.ceil(chart.t0 / SLOT_MS) * SLOT_MS; t <= chart.t1; t += SLOT_MS) {
    const [hour, minute] = fmt.hourMinute(t);
    if (minute !== 0 || hour % every !== 0) continue;
    const x = r1(chart.x(t));
    const label = hour === 0 ? fmt.weekday(t) : fmt.clock(t);
    parts.push(
      `<line class="hour" x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${bottom}"/>` +
        `<text class="tick" x="${x}" y="${bottom + 14}" text-anchor="middle">${esc(label)}</text>`,
    );
  }
  return parts.join("");
}

function marker(chart, instant, cls, label, bottom, fmt) {
  if (!chart.contains(instant)) return "";
  const x = r1(chart.x(instant));
  const anchor = x > chart.right - 60 ? "end" : "start";
  const dx = anchor === "end" ? -3 : 3;
  return (
    `<line class="marker ${cls}" x1="${x}" x2="${x}" y1="${MARGIN.top - 4}" y2="${bottom}" ` +
    `data-time="${instant}"/>` +
    `<text class="marker-label ${cls}" x="${x + dx}" y="${MARGIN.top - 6}" ` +
    `text-anchor="${anchor}">` +
    `${esc(label)}</text>`
  );
}

/**
 * One panel's chart. `bands` lists what to draw, top to bottom: "price", "power", "soc", "grid".
 * Returns {svg, legend}.
 */
function drawChart({ width, bands, slots, site, ctx, title, titleId, whyId }) {
  const { fmt, now, departure } = ctx;
  const t0 = slots.length ? slots[0].start : site[0].start;
  const last = (slots.length ? slots : site).at(-1).end;
  const t1 = Math.min(last, t0 + ctx.hours * HOUR_MS);
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const chart = {
    t0,
    t1,
    left,
    right,
    x: (t) => left + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (right - left),
    contains: (t) => Number.isFinite(t) && t >= t0 && t <= t1,
  };
  const shown = (list) => list.filter((slot) => slot.start < t1);
  let top = MARGIN.top + BAND.gap;
  const body = [];
  const legend = {};
  for (const band of bands) {
    let drawn;
    if (band === "price") drawn = priceBand(chart, shown(slots), top, fmt);
    else if (band === "power") drawn = powerBand(chart, shown(slots), top, fmt);
    else if (band === "soc") drawn = socBand(chart, shown(slots), top, ctx);
    else drawn = gridBand(chart, shown(site), top, fmt);
    body.push(`<g class="band band-${band}">${drawn.svg}</g>`);
    Object.assign(legend, drawn.legend);
    top += drawn.height + BAND.gap;
  }
  const bottom = top - BAND.gap;
  const height = bottom + MARGIN.bottom;
  const markers =
    marker(chart, Math.min(Math.max(now, t0), t1), "now", "Now", bottom, fmt) +
    (bands.includes("soc")
      ? marker(chart, departure, "departure", `Departure ${fmt.time(departure, now)}`, bottom, fmt)
      : "");
  legend.departure = bands.includes("soc") && chart.contains(departure);
  const svg =
    `<svg class="chart" role="img" aria-labelledby="${titleId} ${whyId}" ` +
    `viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<title id="${titleId}">${esc(title)}</title>` +
    timeAxis(chart, bottom, fmt) +
    body.join("") +
    markers +
    `</svg>`;
  return { svg, legend };
}

const LEGEND = [
  ["withPrices", "import", "Import price"],
  ["withExport", "export", "Export price"],
  ["estimated", "shade", "Estimated price"],
  ["gridImport", "grid-import", "Grid import"],
  ["gridExport", "grid-export", "Grid export"],
  ["charge", "charge", "Charging"],
  ["discharge", "discharge", "Discharging"],
  ["soc", "soc", "State of charge"],
  ["target", "target", "Target"],
  ["reserve", "reserve", "Reserve"],
  ["departure", "departure", "Departure"],
  ["now", "now", "Now"],
];

function legendHtml(legend) {
  const items = LEGEND.filter(
    ([key]) => legend[key] !== undefined && legend[key] !== null && legend[key] !== false,
  );
  return (
    `<ul class="legend">` +
    items
      .map(
        ([, cls, text]) =>
          `<li><span class="swatch ${cls}" aria-hidden="true"></span>${esc(text)}</li>`,
      )
      .join("") +
    `</ul>`
  );
}

/** One charger's (or the site's) panel: name, state, the sentence of why, then the chart. */
function panelHtml({ kind, entity, state, name, stateText, whyId, sentence, chart }) {
  return (
    `<section class="panel ${kind}" data-entity="${esc(entity)}" data-state="${esc(state)}">` +
    `<div class="head"><h3 class="name">${esc(name)}</h3>` +
    `<span class="state">${esc(stateText)}</span></div>` +
    `<p class="why" id="${whyId}">${esc(sentence)}</p>${chart}</section>`
  );
}

function warningHtml(text) {
  return `<section class="panel"><p class="warning" role="alert">${esc(text)}</p></section>`;
}

/* ---------------------------------------------------------------------------------------------
 * The card element.
 * ------------------------------------------------------------------------------------------- */

const STYLE = `
  :host {
    display: block;
    /* Each colour can be themed with the --v2g-...-color variable named in it. */
    --v2g-import: var(--v2g-import-color, var(--blue-grey-color, #607d8b));
    --v2g-export: var(--v2g-export-color, var(--brown-color, #8d6e63));
    --v2g-charge: var(--v2g-charge-color, var(--success-color, #43a047));
    --v2g-discharge: var(--v2g-discharge-color, var(--warning-color, #ffa600));
    --v2g-soc: var(--v2g-soc-color, var(--primary-color, #03a9f4));
    --v2g-target: var(--v2g-target-color, var(--success-color, #43a047));
    --v2g-reserve: var(--v2g-reserve-color, var(--error-color, #db4437));
    --v2g-grid-import: var(--energy-grid-consumption-color, #488fc2);
    --v2g-grid-export: var(--energy-grid-return-color, #8353d1);
    --v2g-shade: var(--v2g-estimated-color, var(--secondary-text-color, #727272));
    --v2g-marker: var(--primary-text-color, #212121);
    --v2g-divider: var(--divider-color, rgba(0, 0, 0, 0.12));
    /* Opaque tints, not opacity: neighbouring bars may share a pixel column. */
    --v2g-background: var(--card-background-color, #fff);
    --v2g-export-tint: color-mix(in srgb, var(--v2g-export) 65%, var(--v2g-background));
    --v2g-estimated-tint: color-mix(in srgb, var(--v2g-import) 50%, var(--v2g-background));
  }
  ha-card { padding: 12px 16px 8px; overflow: hidden; }
  .card-title {
    margin: 0 0 8px;
    font-size: var(--ha-card-header-font-size, 20px);
    font-weight: 500;
    color: var(--ha-card-header-color, var(--primary-text-color));
  }
  .panel + .panel { margin-top: 12px; padding-top: 12px; border-top: 1px solid var(--v2g-divider); }
  .head { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
  .name { margin: 0; font-size: 16px; font-weight: 500; color: var(--primary-text-color); }
  .state { font-size: 14px; color: var(--secondary-text-color); }
  .why { margin: 4px 0 0; font-size: 14px; line-height: 1.4; color: var(--primary-text-color); }
  .warning { color: var(--error-color, #db4437); font-size: 14px; }
  svg.chart { display: block; width: 100%; height: auto; margin-top: 4px; overflow: visible; }
  svg text { font-family: inherit; font-size: 11px; fill: var(--secondary-text-color); }
  svg .band-title { font-size: 12px; font-weight: 500; fill: var(--primary-text-color); }
  .grid { stroke: var(--v2g-divider); stroke-width: 1; }
  .grid.zero { stroke: var(--secondary-text-color); stroke-opacity: 0.5; }
  .hour { stroke: var(--v2g-divider); stroke-dasharray: 2 3; }
  /* Dense bars: whole pixels, no blending seams between neighbours. */
  .bar, .shade { shape-rendering: crispEdges; }
  .shade { fill: var(--v2g-shade); fill-opacity: 0.16; }
  .bar.import { fill: var(--v2g-import); }
  .bar.import.estimated { fill: var(--v2g-estimated-tint); }
  .bar.export { fill: var(--v2g-export-tint); }
  .bar.charge { fill: var(--v2g-charge); }
  .bar.discharge { fill: var(--v2g-discharge); }
  .bar.grid-import { fill: var(--v2g-grid-import); }
  .bar.grid-export { fill: var(--v2g-grid-export); }
  polyline.soc { fill: none; stroke: var(--v2g-soc); stroke-width: 2.5; stroke-linejoin: round; }
  .soc-dot { fill: var(--v2g-soc); stroke: var(--v2g-background); stroke-width: 1.5; }
  .level { stroke-width: 1.5; stroke-dasharray: 6 4; }
  .level.target { stroke: var(--v2g-target); }
  .level.reserve { stroke: var(--v2g-reserve); }
  .level-label.target { fill: var(--v2g-target); }
  .level-label.reserve { fill: var(--v2g-reserve); }
  .marker { stroke: var(--v2g-marker); stroke-width: 1.5; }
  .marker.departure { stroke-dasharray: 4 3; }
  .marker-label { fill: var(--v2g-marker); font-weight: 500; }
  .legend {
    display: flex;
    flex-wrap: wrap;
    gap: 4px 14px;
    margin: 6px 0 0;
    padding: 0;
    list-style: none;
    font-size: 12px;
    color: var(--secondary-text-color);
  }
  .legend li { display: flex; align-items: center; gap: 5px; }
  .swatch { display: inline-block; width: 12px; height: 10px; border-radius: 2px; }
  .swatch.import { background: var(--v2g-import); }
  .swatch.export { background: var(--v2g-export-tint); }
  .swatch.shade { background: var(--v2g-shade); opacity: 0.3; }
  .swatch.charge { background: var(--v2g-charge); }
  .swatch.discharge { background: var(--v2g-discharge); }
  .swatch.grid-import { background: var(--v2g-grid-import); }
  .swatch.grid-export { background: var(--v2g-grid-export); }
  .swatch.soc { height: 3px; background: var(--v2g-soc); }
  .swatch.target, .swatch.reserve { height: 0; border-top: 2px dashed; border-radius: 0; }
  .swatch.target { border-color: var(--v2g-target); }
  .swatch.reserve { border-color: var(--v2g-reserve); }
  .swatch.departure, .swatch.now { width: 0; height: 12px; border-left: 2px solid; }
  .swatch.departure { border-left-style: dashed; border-color: var(--v2g-marker); }
  .swatch.now { border-color: var(--v2g-marker); }
`;

const FORM_LABELS = {
  entity: "Plan sensor (one charger)",
  entities: "Plan sensors (several chargers; empty: all)",
  title: "Title",
  hours: "Hours ahead",
  show_site: "Show the site's grid plan",
};

const cardClass = (Base) =>
  class V2gPlanCard extends Base {
    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      this._config = null;
      this._hass = null;
      this._width = 0;
      this._seen = null;
    }

    /** The config's plan sensors, or every V2G plan sensor when it names none. */
    _planIds() {
      const { entity, entities } = this._config;
      if (entities && entities.length)
        return entities.map((e) => (typeof e === "string" ? e : e.entity));
      if (entity) return [entity];
      return this._hass ? planSensors(this._hass) : [];
    }

    setConfig(config) {
      if (!config || typeof config !== "object") throw new Error("Invalid configuration");
      if (config.entity !== undefined && typeof config.entity !== "string") {
        throw new Error("entity must be the entity id of a V2G plan sensor");
      }
      if (config.entities !== undefined && !Array.isArray(config.entities)) {
        throw new Error("entities must be a list of V2G plan sensors");
      }
      const hours = config.hours === undefined ? MAX_HOURS : Number(config.hours);
      if (!(hours >= 1 && hours <= MAX_HOURS))
        throw new Error(`hours must be between 1 and ${MAX_HOURS}`);
      this._config = { ...config, hours };
      this._seen = null;
      this._render();
    }

    set hass(hass) {
      this._hass = hass;
      if (this._changed()) this._render();
    }

    get hass() {
      return this._hass;
    }

    connectedCallback() {
      this._resize = new ResizeObserver((entries) => {
        const width = Math.round(entries[0].contentRect.width);
        if (width > 0 && width !== this._width) {
          this._width = width;
          this._render();
        }
      });
      this._resize.observe(this);
      // The "now" line moves: redraw every minute even when no state changes.
      this._timer = setInterval(() => this._render(), 60 * 1000);
    }

    disconnectedCallback() {
      this._resize?.disconnect();
      clearInterval(this._timer);
    }

    /** Whether anything shown changed since the last render (state objects are immutable). */
    _changed() {
      if (!this._config || !this._hass) return false;
      const hass = this._hass;
      const ids = this._planIds().flatMap((id) => {
        const related = relatedEntities(hass, id);
        return [id, related.target, related.reserve, related.soc, related.cost, related.site];
      });
      // The state's words come from translations, which may load after the states.
      const seen = [
        hass.locale,
        hass.localize,
        hass.formatEntityState,
        hass.themes?.darkMode,
        ...ids.map((id) => id && hass.states[id]),
      ];
      const changed =
        !this._seen ||
        seen.some((value, i) => value !== this._seen[i]) ||
        seen.length !== this._seen.length;
      this._seen = seen;
      return changed;
    }

    _render() {
      if (!this._config || !this._hass) return;
      const hass = this._hass;
      const width = this._width || 480;
      const now = Date.now();
      const planIds = this._planIds();
      const panels = [];
      if (planIds.length === 0) {
        panels.push(warningHtml("No V2G plan sensor found: add a charger to V2G Smart Charging."));
      }
      // Panels grouped by site: the site's grid plan first (with the prices), then each EV.
      const groups = new Map();
      for (const id of planIds) {
        const related = relatedEntities(hass, id);
        const key = related.site || id;
        if (!groups.has(key))
          groups.set(key, { site: related.site, siteName: related.siteName, evs: [] });
        groups.get(key).evs.push({ id, related });
      }
      let index = 0;
      for (const group of groups.values()) {
        const showSite = this._config.show_site ?? planIds.length > 1;
        const siteObj = group.site ? hass.states[group.site] : undefined;
        const withSite = showSite && siteObj !== undefined;
        if (withSite) {
          panels.push(this._sitePanel(group, siteObj, width, now, index++));
        }
        for (const ev of group.evs) {
          panels.push(this._evPanel(ev, width, now, index++, !withSite));
        }
      }
      const title = this._config.title
        ? `<h2 class="card-title">${esc(this._config.title)}</h2>`
        : "";
      const body = `${title}${panels.join("")}`;
      this.shadowRoot.innerHTML = `<style>${STYLE}</style><ha-card>${body}</ha-card>`;
    }

    _format(currencyEntity) {
      const currency = currencyEntity
        ? this._hass.states[currencyEntity]?.attributes?.unit_of_measurement
        : undefined;
      return makeFormat(this._hass, currency);
    }

    _evPanel({ id, related }, width, now, index, withPrices) {
      const hass = this._hass;
      const stateObj = hass.states[id];
      if (!stateObj) {
        return warningHtml(`Entity not found: ${id}`);
      }
      const fmt = this._format(related.cost);
      const slots = evSlots(stateObj);
      const target = numericState(hass, related.target);
      const reserve = numericState(hass, related.reserve);
      const departure = Date.parse(stateObj.attributes.departure);
      const sentence = explain({ stateObj, slots, target, fmt, now });
      const stateText = hass.formatEntityState ? hass.formatEntityState(stateObj) : stateObj.state;
      const whyId = `why-${index}`;
      const { hours } = this._config;
      let chart = "";
      if (slots.length) {
        const bands = withPrices ? ["price", "power", "soc"] : ["power", "soc"];
        const drawn = drawChart({
          width,
          bands,
          slots,
          site: [],
          ctx: {
            fmt,
            now,
            departure,
            target,
            reserve,
            socNow: numericState(hass, related.soc),
            hours,
          },
          title: `Plan for ${related.name}: ${bands.join(", ")} over the next ${hours} hours`,
          titleId: `title-${index}`,
          whyId,
        });
        drawn.legend.withPrices = withPrices;
        drawn.legend.now = true;
        chart = drawn.svg + legendHtml(drawn.legend);
      }
      return panelHtml({
        kind: "ev",
        entity: id,
        state: stateObj.state,
        name: related.name,
        stateText,
        whyId,
        sentence,
        chart,
      });
    }

    _sitePanel(group, siteObj, width, now, index) {
      const hass = this._hass;
      const first = group.evs.find((ev) => hass.states[ev.id]);
      const fmt = this._format(first?.related.cost);
      const prices = first ? evSlots(hass.states[first.id]) : [];
      const site = siteSlots(siteObj);
      const name = group.siteName || siteObj.attributes.friendly_name || group.site;
      const stateText = hass.formatEntityState ? hass.formatEntityState(siteObj) : siteObj.state;
      const whyId = `why-${index}`;
      const { hours } = this._config;
      const peak = Math.max(0, ...site.map((slot) => slot.importW));
      const sentence = site.length
        ? `${group.evs.length} EVs planned together; the grid connection peaks at ${fmt.kw(peak)}.`
        : "No plan for the site right now.";
      let chart = "";
      if (site.length) {
        const bands = prices.length ? ["price", "grid"] : ["grid"];
        const drawn = drawChart({
          width,
          bands,
          slots: prices,
          site,
          ctx: { fmt, now, departure: NaN, hours },
          title: `Site ${name}: ${bands.join(", ")} over the next ${hours} hours`,
          titleId: `title-${index}`,
          whyId,
        });
        drawn.legend.withPrices = prices.length > 0;
        drawn.legend.now = true;
        chart = drawn.svg + legendHtml(drawn.legend);
      }
      return panelHtml({
        kind: "site",
        entity: group.site,
        state: siteObj.state,
        name,
        stateText,
        whyId,
        sentence,
        chart,
      });
    }

    getCardSize() {
      const panels = this._config && this._hass ? this._planIds().length : 1;
      return 1 + 6 * Math.max(panels, 1);
    }

    getGridOptions() {
      return { columns: 12, min_columns: 6 };
    }

    static getStubConfig(hass) {
      return { entity: planSensors(hass)[0] || "" };
    }

    static getConfigForm() {
      const plan = { entity: { filter: { integration: DOMAIN, domain: "sensor" } } };
      return {
        schema: [
          { name: "entity", selector: plan },
          { name: "entities", selector: { entity: { ...plan.entity, multiple: true } } },
          { name: "title", selector: { text: {} } },
          { name: "hours", selector: { number: { min: 1, max: MAX_HOURS, step: 1, mode: "box" } } },
          { name: "show_site", selector: { boolean: {} } },
        ],
        computeLabel: (schema) => FORM_LABELS[schema.name],
      };
    }
  };

/**
 * Define the card once Home Assistant's frontend runs. Its app module installs a scoped custom
 * element registry polyfill that replaces window.customElements and window.HTMLElement; the
 * integration has this module imported on every page alongside the app, so it may run first, and
 * an element defined before the polyfill would stay invisible to the dashboards. Hence the wait
 * for the frontend's root element ("home-assistant", or "hc-main" on a Cast receiver), and the
 * class built from the HTMLElement in place at that time.
 */
async function defineCard() {
  await Promise.any(
    ["home-assistant", "hc-main"].map((tag) => window.customElements.whenDefined(tag)),
  );
  if (window.customElements.get(CARD_TYPE)) return;
  window.customElements.define(CARD_TYPE, cardClass(window.HTMLElement));
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: CARD_TYPE,
    name: "V2G plan",
    description:
      "Prices, planned charging and discharging, state of charge and why, for V2G Smart Charging.",
    preview: true,
    documentationURL: "https://github.com/v2g-smart-charging/v2g#the-plan-card",
  });
}

defineCard();
