/**
 * Number, duration and text formatting shared by the HTML and Markdown reports.
 * Locale-independent (always `en-US` style) so reports are reproducible.
 */

import type { Spread } from './stats.js';

/** Placeholder for a value that does not exist (no finished seed, no evaluation). */
export const MISSING = '—';

/** Significant digits of measured values in tables. */
export const DEFAULT_SIGNIFICANT_DIGITS = 3;

const integerFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** An integer count with thousands separators: `12800` -> `12,800`. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return integerFormat.format(Math.round(value));
}

/**
 * A measured value with `digits` significant digits, without trailing zeros:
 * `0.012345` -> `0.0123`, `71.24` -> `71.2`, `12345.6` -> `12,346`, `0.00004` -> `4e-5`.
 */
export function formatNumber(value: number, digits = DEFAULT_SIGNIFICANT_DIGITS): string {
  if (!Number.isFinite(value)) return String(value);
  // Round first, so 999.7 becomes 1,000 rather than 1.00e+3.
  const rounded = Number(value.toPrecision(digits));
  if (rounded === 0) return '0';
  const magnitude = Math.abs(rounded);
  if (magnitude >= 10 ** digits) return formatCount(value);
  if (magnitude < 1e-3) {
    const [mantissa = '', exponent = ''] = rounded.toExponential(digits - 1).split('e');
    return `${stripZeros(mantissa)}e${exponent.replace('+', '')}`;
  }
  return stripZeros(rounded.toPrecision(digits));
}

function stripZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** Mean and standard deviation over seeds: `0.012 ± 0.003`, or just the mean for one seed. */
export function formatSpread(spread: Spread | null, digits = DEFAULT_SIGNIFICANT_DIGITS): string {
  if (spread === null) return MISSING;
  const mean = formatNumber(spread.mean, digits);
  return spread.n > 1 ? `${mean} ± ${formatNumber(spread.sd, 2)}` : mean;
}

/** A duration in milliseconds: `420 ms`, `12.3 s`, `3m 12s`, `2h 05m`, `1d 03h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return MISSING;
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (Number(seconds.toPrecision(DEFAULT_SIGNIFICANT_DIGITS)) < 60) {
    return `${formatNumber(seconds)} s`;
  }
  const totalSeconds = Math.round(seconds);
  const days = Math.floor(totalSeconds / 86400);
  const hours = Math.floor((totalSeconds % 86400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const secs = totalSeconds % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (days > 0) return `${days}d ${pad(hours)}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  return `${minutes}m ${pad(secs)}s`;
}

/**
 * An ISO timestamp as `2025-03-01 14:05 UTC`; anything that does not parse is shown as given.
 */
export function formatTimestamp(text: string): string {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
