/**
 * Cuts a byte stream into lines without making a string per line: each complete line is handed to `emit`
 * as a byte range of a buffer. Memory stays bounded: a line longer than `max` bytes keeps its first `max`
 * (cut back to a whole UTF-8 character) and only counts the rest, which is discarded as it arrives.
 */
export class LineSplitter {
  private carry: Buffer | undefined;
  private cut = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer, emit: (buf: Buffer, start: number, end: number, truncated: number) => void): void {
    let start = 0;
    let nl = chunk.indexOf(0x0a);
    if (this.carry && nl >= 0) {
      const room = this.max - this.carry.length;
      const head = Buffer.concat([this.carry, chunk.subarray(0, Math.min(nl, Math.max(0, room)))]);
      const over = Math.max(0, nl - Math.max(0, room));
      this.carry = undefined;
      this.emitLine(head, 0, head.length, this.cut + over, emit);
      this.cut = 0;
      start = nl + 1;
      nl = chunk.indexOf(0x0a, start);
    }
    while (nl >= 0) {
      const len = nl - start;
      if (len > this.max) this.emitLine(chunk, start, start + this.max, len - this.max, emit);
      else this.emitLine(chunk, start, nl, 0, emit);
      start = nl + 1;
      nl = chunk.indexOf(0x0a, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      const have = this.carry?.length ?? 0;
      const take = Math.min(rest.length, Math.max(0, this.max - have));
      if (take > 0) this.carry = this.carry ? Buffer.concat([this.carry, rest.subarray(0, take)]) : Buffer.from(rest.subarray(0, take));
      else this.carry ??= Buffer.alloc(0);
      this.cut += rest.length - take;
    }
  }

  /** At end of stream: a last line without a newline is still a line. */
  end(emit: (buf: Buffer, start: number, end: number, truncated: number) => void): void {
    if (this.carry && (this.carry.length > 0 || this.cut > 0)) this.emitLine(this.carry, 0, this.carry.length, this.cut, emit);
    this.carry = undefined;
    this.cut = 0;
  }

  private emitLine(buf: Buffer, start: number, end: number, truncated: number, emit: (buf: Buffer, start: number, end: number, truncated: number) => void): void {
    let e = end;
    if (truncated > 0) {
      // do not end inside a UTF-8 character: back off over continuation bytes and the lead byte
      let k = e;
      while (k > start && ((buf[k - 1] as number) & 0xc0) === 0x80) k--;
      if (k > start && (buf[k - 1] as number) >= 0xc0) {
        const lead = buf[k - 1] as number;
        const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (e - (k - 1) < need) {
          truncated += e - (k - 1);
          e = k - 1;
        }
      }
    } else if (e > start && buf[e - 1] === 0x0d) {
      e--;
    }
    emit(buf, start, e, truncated);
  }
}
