/**
 * Copies `rows` rows of `size` values from `from` (row stride `fromStride`, starting at
 * `fromOffset`) into `to` (stride `toStride`, starting at `toOffset`): packing and unpacking
 * side-by-side blocks of row-major arrays.
 */
export function copyRows(
  rows: number,
  size: number,
  from: Float32Array,
  fromOffset: number,
  fromStride: number,
  to: Float32Array,
  toOffset: number,
  toStride: number,
): void {
  for (let r = 0; r < rows; r++) {
    const start = fromOffset + r * fromStride;
    to.set(from.subarray(start, start + size), toOffset + r * toStride);
  }
}
