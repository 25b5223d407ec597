import { describe, expect, it } from 'vitest';

import {
  escapeHtml,
  formatCount,
  formatDuration,
  formatNumber,
  formatSpread,
  formatTimestamp,
  MISSING,
} from '../src/report/format.js';
import { medianOf, spreadOf } from '../src/report/stats.js';

describe('formatNumber', () => {
  it.each([
    [0.012345, '0.0123'],
    [71.24, '71.2'],
    [1, '1'],
    [0.1, '0.1'],
    [0, '0'],
    [-0.5, '-0.5'],
    [123.4, '123'],
    [999.7, '1,000'],
    [12345.6, '12,346'],
    [0.001, '0.001'],
    [0.00004, '4e-5'],
    [0.000123456, '1.23e-4'],
    [Number.NaN, 'NaN'],
  ])('%s -> %s', (value, expected) => {
    expect(formatNumber(value)).toBe(expected);
  });

  it('takes the number of significant digits', () => {
    expect(formatNumber(Math.PI, 5)).toBe('3.1416');
  });
});

describe('formatCount', () => {
  it('uses thousands separators whatever the locale', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(12800)).toBe('12,800');
    expect(formatCount(999.6)).toBe('1,000');
  });
});

describe('formatDuration', () => {
  it.each([
    [420, '420 ms'],
    [999.6, '1 s'],
    [12_300, '12.3 s'],
    [59_990, '1m 00s'],
    [192_000, '3m 12s'],
    [7_500_000, '2h 05m'],
    [97_200_000, '1d 03h'],
    [-1, MISSING],
  ])('%s ms -> %s', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe('formatSpread', () => {
  it('shows mean ± standard deviation, the mean alone for one seed, a dash for none', () => {
    expect(formatSpread(spreadOf([0.4, 0.6]))).toBe('0.5 ± 0.14');
    expect(formatSpread(spreadOf([0.4]))).toBe('0.4');
    expect(formatSpread(null)).toBe(MISSING);
  });
});

describe('formatTimestamp', () => {
  it('shows ISO times in UTC to the minute and other text unchanged', () => {
    expect(formatTimestamp('2025-06-01T12:34:56.000Z')).toBe('2025-06-01 12:34 UTC');
    expect(formatTimestamp('yesterday')).toBe('yesterday');
  });
});

describe('escapeHtml', () => {
  it('escapes markup and quotes', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
  });
});

describe('spreadOf and medianOf', () => {
  it('compute mean, sample standard deviation, extremes and median', () => {
    const spread = spreadOf([1, 2, 3, 6]);
    expect(spread).toMatchObject({ mean: 3, min: 1, max: 6, n: 4 });
    expect(spread?.sd).toBeCloseTo(Math.sqrt(14 / 3), 12);
    expect(spreadOf([])).toBeNull();
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNull();
  });
});
