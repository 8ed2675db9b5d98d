// Number, time and age formatting for the dashboard (cached Intl formatters).

const numberFormats = new Map();

function fixed(digits) {
  let format = numberFormats.get(digits);
  if (!format) {
    format = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    numberFormats.set(digits, format);
  }
  return format;
}

const quantity = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });

export const DASH = "\u2014";

function finite(value) {
  return typeof value === "number" && Number.isFinite(value);
}

/** Decimals that suit a price of this size. */
export function priceDigits(value) {
  const size = Math.abs(value);
  if (size >= 1000) return 2;
  if (size >= 10) return 3;
  if (size >= 1) return 4;
  return 6;
}

export function price(value) {
  return finite(value) ? fixed(priceDigits(value)).format(value) : DASH;
}

export function amount(value) {
  return finite(value) ? quantity.format(value) : DASH;
}

export function percent(value, digits = 3) {
  return finite(value) ? `${fixed(digits).format(value)}%` : DASH;
}

/** Milliseconds since an ISO time, or null. */
export function since(iso, now = Date.now()) {
  if (!iso) return null;
  const at = Date.parse(iso);
  return Number.isNaN(at) ? null : Math.max(0, now - at);
}

/** A duration: 0.4 s, 12 s, 3 m 05 s, 2 h 07 m, 3 d 4 h. */
export function age(ms) {
  if (ms == null) return DASH;
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} m ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, "0")} m`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function pad(value) {
  return String(value).padStart(2, "0");
}

/** HH:MM:SS in the viewer's time zone. */
export function clockTime(when) {
  if (when == null) return DASH;
  const date = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(date.getTime())) return DASH;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
