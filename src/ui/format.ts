// Small display formatters shared by the UI components. No state, no DOM.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1073741824 → "1 GiB", 32768 → "32 KiB", 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return String(bytes);
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 1 : 0);
  return `${shown} ${UNITS[unit]}`;
}
