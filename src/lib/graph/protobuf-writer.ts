// A minimal protobuf wire-format writer: varints (int32/int64, negatives as ten-byte two's
// complement), float32, and length-delimited bytes, strings and embedded messages. It exists so
// that writing ONNX needs no code compiled at run time (protobufjs builds its encoders with
// `Function`, which the workers' Content-Security-Policy forbids).
// Not a general protobuf library: no decoding, no schema, no groups, no packed repeated fields,
// no 64-bit fixed types; the caller writes each field in the order it wants them on the wire.
//
// Memory: an export bakes hundreds of megabytes of weights into one file in a browser tab, so
// large byte fields are kept by reference in a list of parts and copied exactly once, into the
// result, by finish(). Small writes go to a shared scratch buffer; an embedded message's length
// is not known until its end, so begin() leaves an empty part where end() puts the length.

/** Byte fields at least this long are referenced, not copied, until finish(). */
const BY_REFERENCE = 1024;
const SCRATCH = 64 * 1024;

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_DELIMITED = 2;

const utf8 = new TextEncoder();

export class ProtobufWriter {
  /** The output in order: views into scratch buffers, caller-owned byte arrays, length prefixes. */
  private parts: Uint8Array[] = [];
  /** Total bytes written (parts plus the pending scratch region). */
  private length = 0;
  private scratch = new Uint8Array(SCRATCH);
  /** Where the region not yet pushed to `parts` starts, and where the next byte goes. */
  private start = 0;
  private pos = 0;
  /** Open embedded messages: the index of the part that will hold the length, and `length` then. */
  private open: { slot: number; length: number }[] = [];
  private readonly f32 = new DataView(new ArrayBuffer(4));

  /** Room for `n` more bytes in the scratch buffer (a fresh one when full). */
  private reserve(n: number): void {
    if (this.pos + n <= this.scratch.length) return;
    this.flush();
    this.scratch = new Uint8Array(Math.max(SCRATCH, n));
    this.start = this.pos = 0;
  }

  /** Ends the pending scratch region as a part (a view, no copy). */
  private flush(): void {
    if (this.pos > this.start) this.parts.push(this.scratch.subarray(this.start, this.pos));
    this.start = this.pos;
  }

  private byte(b: number): void {
    this.scratch[this.pos++] = b;
    this.length++;
  }

  /** An unsigned varint below 2^32. */
  private uvarint32(v: number): void {
    this.reserve(5);
    while (v > 0x7f) {
      this.byte((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.byte(v);
  }

  private tag(field: number, wire: number): void {
    this.uvarint32(((field << 3) | wire) >>> 0);
  }

  /**
   * A signed integer as a varint: what protobuf's int32 and int64 both write (a negative value
   * as its 64-bit two's complement, ten bytes). Throws on anything that is not a safe integer,
   * rather than writing a number other than the one given.
   */
  private svarint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`protobuf: ${v} is not an integer that can be written exactly`);
    if (v >= 0 && v <= 0xffffffff) {
      this.uvarint32(v);
      return;
    }
    let u = BigInt.asUintN(64, BigInt(v));
    this.reserve(10);
    while (u > 0x7fn) {
      this.byte(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    this.byte(Number(u));
  }

  /** int32 / int64 / enum field. */
  int(field: number, v: number): this {
    this.tag(field, WIRE_VARINT);
    this.svarint(v);
    return this;
  }

  /** float field (IEEE 754 single, little-endian, rounded like Math.fround). */
  float(field: number, v: number): this {
    this.tag(field, WIRE_FIXED32);
    this.f32.setFloat32(0, v, true);
    this.reserve(4);
    for (let i = 0; i < 4; i++) this.byte(this.f32.getUint8(i));
    return this;
  }

  /** bytes field. Large arrays are referenced until finish(): do not change them before it. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_DELIMITED);
    this.uvarint32(data.length);
    if (data.length >= BY_REFERENCE) {
      this.flush();
      this.parts.push(data);
    } else {
      this.reserve(data.length);
      this.scratch.set(data, this.pos);
      this.pos += data.length;
    }
    this.length += data.length;
    return this;
  }

  /** string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** Opens an embedded message field; what is written until the matching end() is its body. */
  begin(field: number): this {
    this.tag(field, WIRE_DELIMITED);
    this.flush();
    this.open.push({ slot: this.parts.length, length: this.length });
    this.parts.push(new Uint8Array(0));
    return this;
  }

  /** Closes the innermost begin(): puts the body's length in front of it. */
  end(): this {
    const m = this.open.pop();
    if (!m) throw new Error('protobuf: end() without begin()');
    let n = this.length - m.length;
    if (n > 0xffffffff) throw new Error('protobuf: message over 4 GiB');
    const prefix: number[] = [];
    while (n > 0x7f) {
      prefix.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    prefix.push(n);
    this.parts[m.slot] = Uint8Array.from(prefix);
    this.length += prefix.length;
    return this;
  }

  /** The message's bytes: every part copied once into one array. */
  finish(): Uint8Array {
    if (this.open.length > 0) throw new Error('protobuf: finish() with an embedded message still open');
    this.flush();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    this.parts = [];
    return out;
  }
}
