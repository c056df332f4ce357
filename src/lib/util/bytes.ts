// Byte buffers in parts: a file written as its header and each tensor's bytes, joined only when
// something needs it whole.

/** The parts joined into one buffer (the part itself when there is one). */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
