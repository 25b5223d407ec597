import type { Matrix } from './protocol.js';

/** Viridis at 9 evenly spaced stops, as sRGB; values between stops are interpolated. */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** The viridis colour of `value` clamped to [0, 1], as [r, g, b]. */
export function viridis(value: number): [number, number, number] {
  const v = Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
  const position = v * (VIRIDIS.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, VIRIDIS.length - 1);
  const f = position - low;
  const a = VIRIDIS[low] ?? VIRIDIS[0]!;
  const b = VIRIDIS[high] ?? a;
  return [0, 1, 2].map((i) => Math.round(a[i]! + (b[i]! - a[i]!) * f)) as [number, number, number];
}

/** Options of {@link drawHeatmap}. */
export interface HeatmapOptions {
  /** Draw the matrix as given (rows down) instead of transposed (time across). Default false. */
  readonly rowsDown?: boolean;
  /** Largest canvas side in CSS pixels; cells shrink to fit. Default 480. */
  readonly maxSize?: number;
}

/**
 * Draws a [T][rows] matrix on `canvas` as a heatmap with time across and rows (channels or
 * slots) down, one viridis scale from 0 to 1, like the NTM paper's figure 6. Returns the number
 * of cells drawn.
 */
export function drawHeatmap(
  canvas: HTMLCanvasElement,
  m: Matrix,
  options: HeatmapOptions = {},
): number {
  const columns = options.rowsDown ? (m[0]?.length ?? 0) : m.length;
  const rows = options.rowsDown ? m.length : (m[0]?.length ?? 0);
  const maxSize = options.maxSize ?? 480;
  const cell = Math.max(1, Math.min(12, Math.floor(maxSize / Math.max(columns, rows, 1))));
  canvas.width = Math.max(columns * cell, 1);
  canvas.height = Math.max(rows * cell, 1);
  const context = canvas.getContext('2d');
  if (!context || columns === 0 || rows === 0) return 0;
  const image = context.createImageData(canvas.width, canvas.height);
  for (let c = 0; c < columns; c++) {
    for (let r = 0; r < rows; r++) {
      const value = options.rowsDown ? m[r]![c]! : m[c]![r]!;
      const [red, green, blue] = viridis(value);
      for (let dy = 0; dy < cell; dy++) {
        for (let dx = 0; dx < cell; dx++) {
          const at = ((r * cell + dy) * canvas.width + c * cell + dx) * 4;
          image.data[at] = red;
          image.data[at + 1] = green;
          image.data[at + 2] = blue;
          image.data[at + 3] = 255;
        }
      }
    }
  }
  context.putImageData(image, 0, 0);
  return columns * rows;
}
