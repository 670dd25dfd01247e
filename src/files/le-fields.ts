// Little-endian fields of the records the package reads and writes (the
// state file, the helper's plan and records), through a DataView: V8's own
// builtins, where Buffer's read*LE and write*LE methods are JavaScript that
// a command compiles on its first call of each (~0.1 ms apiece here, for a
// status or a start that touches one record). A read or write past the end
// throws a RangeError, as Buffer's do; each writer also refuses a value its
// field cannot hold (a fraction too, which Buffer's would truncate).

/** Fields read from `buf`, at byte offsets. */
export class LeReader {
  private readonly view: DataView
  constructor(readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  u16(at: number): number {
    return this.view.getUint16(at, true)
  }
  u32(at: number): number {
    return this.view.getUint32(at, true)
  }
  i32(at: number): number {
    return this.view.getInt32(at, true)
  }
  u64(at: number): bigint {
    return this.view.getBigUint64(at, true)
  }
  i64(at: number): bigint {
    return this.view.getBigInt64(at, true)
  }
}

/** Fields written into `buf` in order from `at`, or at a given offset. */
export class LeWriter {
  private readonly view: DataView
  constructor(
    buf: Buffer,
    public at = 0,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  u8(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`field at ${this.at}: ${v} is not an 8-bit unsigned integer`)
    this.view.setUint8(this.at, v)
    this.at += 1
  }
  u32(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`field at ${this.at}: ${v} is not a 32-bit unsigned integer`)
    this.view.setUint32(this.at, v, true)
    this.at += 4
  }
  i32(v: number): void {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`field at ${this.at}: ${v} is not a 32-bit integer`)
    this.view.setInt32(this.at, v, true)
    this.at += 4
  }
  /** A signed 64-bit field (BigInt(v) refuses a fraction). */
  i64(v: number | bigint): void {
    const b = BigInt(v)
    if (b < -(2n ** 63n) || b >= 2n ** 63n) throw new RangeError(`field at ${this.at}: ${v} is not a 64-bit integer`)
    this.view.setBigInt64(this.at, b, true)
    this.at += 8
  }
  /** An unsigned 64-bit field. */
  u64(v: number | bigint): void {
    const b = BigInt(v)
    if (b < 0n || b >= 2n ** 64n) throw new RangeError(`field at ${this.at}: ${v} is not a 64-bit unsigned integer`)
    this.view.setBigUint64(this.at, b, true)
    this.at += 8
  }
  /** Move to byte `at`, for the fields that follow. */
  seek(at: number): this {
    this.at = at
    return this
  }
}
