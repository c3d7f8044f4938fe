/**
 * PVE's render_bytes: `%.1f` with the largest unit below 1024 (B, KiB, MiB, GiB, TiB).
 * Used by the lab to write logs and by the parser to read them back.
 */
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

export function renderBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Inverse of renderBytes; also accepts an integer without decimals and `B`. Returns undefined if unreadable. */
export function parseRenderedBytes(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KiB|MiB|GiB|TiB|PiB)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS.indexOf(m[2] as (typeof UNITS)[number]);
  return Math.round(Number(m[1]) * 1024 ** unit);
}
