/**
 * crc32c of a concatenation from the crc32c of its parts (zlib's
 * crc32_combine, for the Castagnoli polynomial): crc(A‖B) from crc(A),
 * crc(B) and B's length, without touching the bytes again. The receiver
 * checks a frame's checksum piece by piece with it, and so learns each
 * write's own crc32c, which the journal stores with the record: the data is
 * hashed once on its way in, not twice.
 */

/** The polynomial, bit-reversed (crc32c works least significant bit first). */
const POLY = 0x82f63b78;

/** a·b modulo the polynomial, both in the reversed bit order (x^0 in the top bit). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31. */
const X2N = new Uint32Array(32);
X2N[0] = 0x40000000; // x^1
for (let k = 1; k < 32; k++) X2N[k] = multModP(X2N[k - 1]!, X2N[k - 1]!);

/** x^(8·bytes) modulo the polynomial: the shift that appending `bytes` bytes applies. */
function shiftFor(bytes: number): number {
  let p = 0x80000000; // x^0
  let k = 3;
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) if (n % 2) p = multModP(X2N[k & 31]!, p);
  return p;
}

/** Writes come in a few sizes (4 KiB, 64 KiB, 1 MiB): their shifts are kept. */
const shifts = new Map<number, number>();

/** crc32c(A‖B) from crc32c(A), crc32c(B) and B's length in bytes. */
export function crc32cCombine(crcA: number, crcB: number, bytesB: number): number {
  let shift = shifts.get(bytesB);
  if (shift === undefined) {
    shift = shiftFor(bytesB);
    if (shifts.size < 256) shifts.set(bytesB, shift);
  }
  return (multModP(shift, crcA) ^ crcB) >>> 0;
}
