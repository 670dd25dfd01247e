// A log's bytes cut into lines for a terminal, in one pass and bounded
// memory. The service user decides how long a line is (a 32 MiB write
// without a newline, a 1 GiB run of NULs), so of each line only its last
// `cap` bytes are kept, in a ring, and the bytes cut from its start are
// counted: a line of any length costs `cap` bytes of memory and one copy of
// each byte, never the whole line joined again for every read.

/** How much of a line's start is not shown: exactly `bytes`, or (atLeast) at least that many. */
export interface Cut {
  bytes: number
  atLeast: boolean
}

export class LineCutter {
  private readonly ring: Buffer
  /** Where the held part of the current line starts in the ring, and its length. */
  private start = 0
  private held = 0
  /** Bytes of the current line cut from its start. */
  private dropped = 0
  /** The current line began before the first bytes given (its start was never read). */
  private startUnread = false

  constructor(
    private readonly cap: number,
    private readonly line: (bytes: Buffer, cut: Cut | undefined) => void,
  ) {
    this.ring = Buffer.allocUnsafe(cap)
  }

  /** The bytes to come start in the middle of a line: its start was not read (at least one byte of it). */
  startsCut(): void {
    this.startUnread = true
  }

  /** Bytes of the log: each line they complete is passed on, with its cut. */
  write(bytes: Buffer): void {
    let from = 0
    for (;;) {
      const nl = bytes.indexOf(0x0a, from)
      if (nl === -1) {
        this.hold(bytes, from, bytes.length)
        return
      }
      this.hold(bytes, from, nl)
      this.flush()
      from = nl + 1
    }
  }

  /** The end: a last line without its newline is passed on as it is. */
  end(): void {
    if (this.held > 0 || this.dropped > 0) this.flush()
    this.startUnread = false
  }

  /** Keep bytes[from, to) as the next part of the current line; what no longer fits is cut from its start. */
  private hold(bytes: Buffer, from: number, to: number): void {
    const n = to - from
    if (n === 0) return
    const cap = this.cap
    if (n >= cap) {
      this.dropped += this.held + n - cap
      bytes.copy(this.ring, 0, to - cap, to)
      this.start = 0
      this.held = cap
      return
    }
    const over = this.held + n - cap
    if (over > 0) {
      this.start = (this.start + over) % cap
      this.held -= over
      this.dropped += over
    }
    const at = (this.start + this.held) % cap
    const first = Math.min(n, cap - at)
    bytes.copy(this.ring, at, from, from + first)
    if (first < n) bytes.copy(this.ring, 0, from + first, to)
    this.held += n
  }

  private flush(): void {
    const bytes = Buffer.allocUnsafe(this.held)
    const first = Math.min(this.held, this.cap - this.start)
    this.ring.copy(bytes, 0, this.start, this.start + first)
    if (first < this.held) this.ring.copy(bytes, first, 0, this.held - first)
    const cut =
      this.dropped > 0 || this.startUnread ? { bytes: this.dropped + (this.startUnread ? 1 : 0), atLeast: this.startUnread } : undefined
    this.start = 0
    this.held = 0
    this.dropped = 0
    this.startUnread = false
    this.line(bytes, cut)
  }
}
