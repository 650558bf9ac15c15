import { StringDecoder } from 'node:string_decoder';

/** A complete line, or the head of an over-long one with how much of it was cut. */
export interface SplitLine {
  text: string;
  truncated: number;
}

/**
 * Cuts a byte stream into lines with bounded memory: a line longer than `max` characters keeps its first
 * `max` and counts the rest, which is discarded as it arrives.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';
  private cut = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer | string, out: SplitLine[]): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    if (this.carry) {
      text = this.carry + text;
      this.carry = '';
    }
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.emit(text, start, nl, out);
      start = nl + 1;
    }
    if (start < text.length) {
      const rest = text.length - start;
      if (rest > this.max) {
        this.cut += rest - this.max;
        this.carry = text.slice(start, start + this.max);
      } else {
        this.carry = text.slice(start);
      }
    }
  }

  /** At end of stream: a last line without a newline is still a line. */
  end(out: SplitLine[]): void {
    const tail = this.decoder.end();
    if (tail) this.push(tail, out);
    if (this.carry || this.cut) {
      out.push({ text: stripCr(this.carry), truncated: this.cut });
      this.carry = '';
      this.cut = 0;
    }
  }

  private emit(text: string, start: number, nl: number, out: SplitLine[]): void {
    const len = nl - start;
    const keep = Math.min(len, this.max);
    const truncated = this.cut + (len - keep);
    out.push({ text: truncated > 0 ? text.slice(start, start + keep) : stripCr(text.slice(start, nl)), truncated });
    this.cut = 0;
  }
}

function stripCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}
