// CRC-32C (Castagnoli), the checksum etcd's HashKV uses over the history table.

const CASTAGNOLI_REVERSED = 0x82f63b78;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REVERSED : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** Incremental CRC-32C: feed bytes with `update`, read the checksum with `digest`. */
export class Crc32c {
  private crc = 0xffffffff;

  update(data: Uint8Array): this {
    let c = this.crc;
    for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
    this.crc = c;
    return this;
  }

  digest(): number {
    return (this.crc ^ 0xffffffff) >>> 0;
  }
}

export function crc32c(data: Uint8Array): number {
  return new Crc32c().update(data).digest();
}
