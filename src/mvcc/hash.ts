// CRC-32C (Castagnoli), the checksum etcd's HashKV uses over the history table.
// Table-driven, eight bytes per step ("slicing-by-8"), since HashKV reads the whole history.

const CASTAGNOLI_REVERSED = 0x82f63b78;

const TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REVERSED : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      const prev = t[(s - 1) * 256 + i];
      t[s * 256 + i] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
})();

/** Incremental CRC-32C: feed bytes with `update`, read the checksum with `digest`. */
export class Crc32c {
  private crc: number;

  /** `seed`: a checksum to continue from (Go's crc32.New over a previous Sum32), as etcd's WAL chains them. */
  constructor(seed = 0) {
    this.crc = seed ^ -1;
  }

  update(data: Uint8Array): this {
    const t = TABLES;
    let c = this.crc;
    let i = 0;
    const n = data.length;
    for (; i + 8 <= n; i += 8) {
      const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      c =
        t[1792 + (lo & 0xff)] ^
        t[1536 + ((lo >>> 8) & 0xff)] ^
        t[1280 + ((lo >>> 16) & 0xff)] ^
        t[1024 + (lo >>> 24)] ^
        t[768 + data[i + 4]] ^
        t[512 + data[i + 5]] ^
        t[256 + data[i + 6]] ^
        t[data[i + 7]];
    }
    for (; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
    this.crc = c;
    return this;
  }

  digest(): number {
    return (this.crc ^ -1) >>> 0;
  }
}

export function crc32c(data: Uint8Array): number {
  return new Crc32c().update(data).digest();
}
