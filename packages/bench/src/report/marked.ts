// Generated blocks inside hand-written files (the README's tables).

/**
 * `text` with the block between `markers` (markers included) replaced by `block`, which carries
 * the markers. Throws, naming `what`, when the markers are missing, so a block is never appended
 * twice.
 */
export function replaceMarkedBlock(
  text: string,
  markers: { readonly start: string; readonly end: string },
  block: string,
  what: string,
): string {
  const start = text.indexOf(markers.start);
  const end = text.indexOf(markers.end, start);
  if (start < 0 || end < start) {
    throw new Error(`${what} has no ${markers.start} ... ${markers.end} block to replace`);
  }
  return text.slice(0, start) + block + text.slice(end + markers.end.length);
}
