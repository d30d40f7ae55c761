/** CRC-32C (Castagnoli), the checksum LevelDB puts on its blocks and log records; table-driven. */
const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** The running (not finalized) state after `bytes`, from `state` (start with 0xffffffff). */
export function crc32cUpdate(state: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = state;
  for (let i = start; i < end; i++) c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c;
}

/** The state after one more byte. */
export function crc32cByte(state: number, byte: number): number {
  return (TABLE[(state ^ byte) & 0xff] as number) ^ (state >>> 8);
}

/** The checksum LevelDB stores for running state `state`: finalized, then masked. */
export function leveldbMasked(state: number): number {
  const crc = (state ^ 0xffffffff) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
