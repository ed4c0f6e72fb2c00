// decode: the Python half's binary traits (see contract.json) -> typed arrays.
// Pure functions, no DOM: unit-tested with `node --test` (code/tests/js/).

// Bytes of a buffer trait, whatever wrapper the widget manager hands over
// (DataView in Jupyter and the static loader, ArrayBuffer or a typed array elsewhere).
export function asBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

// IEEE 754 half precision (as a 16-bit integer) -> number.
export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

// Typed arrays use the machine's byte order; the buffers are little-endian (as every browser's machine).
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

// Little-endian float16 bytes -> Float32Array. Natively where the engine has Float16Array
// (Chromium 135+, Firefox 129+, Safari 18.2+), otherwise bit by bit: each half's sign, exponent
// and fraction moved to where a float32 keeps them (the values of halfToFloat, exactly).
export function decodeFloat16(value, native = typeof Float16Array === "function" && LITTLE_ENDIAN) {
  let bytes = asBytes(value);
  if (native) {
    if (bytes.byteOffset % 2) bytes = bytes.slice(); // a Float16Array starts at an even byte
    return new Float32Array(new Float16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1));
  }
  const out = new Float32Array(bytes.length >> 1);
  const bits = new Uint32Array(out.buffer); // the same memory: the float32s' bit patterns
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    const h = bytes[j] | (bytes[j + 1] << 8);
    const sign = (h & 0x8000) << 16; // bit 15 -> bit 31
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = (sign ? -frac : frac) * 2 ** -24; // zero and subnormals
    else if (exp === 31) bits[i] = sign | 0x7f800000 | (frac << 13); // infinity, NaN
    else bits[i] = sign | ((exp + 112) << 23) | (frac << 13); // exponent bias 15 -> 127
  }
  return out;
}

// Little-endian float32 bytes -> Float32Array.
export function decodeFloat32(value) {
  const bytes = asBytes(value);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

// RGB triples (uint8) -> the same bytes; black to white when empty.
export function decodeColormap(value) {
  const bytes = asBytes(value);
  const n = Math.floor(bytes.length / 3);
  return n >= 2 ? bytes.subarray(0, 3 * n) : Uint8Array.of(0, 0, 0, 255, 255, 255);
}

// [min, max] of the values, ignoring NaN (masked cells); [Infinity, -Infinity] if none.
export function extentOf(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
