// Redaction figures: throughput of the one redactor on ordinary log lines (as the spooler hands them over,
// enveloped, 64 KiB at a time) against the redaction it replaced, measured in the same run
// (bench/legacy-redact.mjs); and the time of the adversarial input that used to stall the daemon.
import { performance } from 'node:perf_hooks';
import { legacyPackRedact, legacySpoolRedact } from './legacy-redact.mjs';
import { median } from './lib.mjs';

const { Redactor } = await import('../dist/security/index.js');

const SECRETS = ['bench-secret-value-0123456789', 'another-declared-secret', 'uplink-token-abcdef'];
const LINES = [
  'INFO request handled method=GET path=/api/v1/items status=200 duration_ms=12 user=alice',
  'sensor reading temp=21.4 humidity=40 battery=3.71V seq=1029384',
  'WARN retrying upload to https://upload.example.com/v2/batch (attempt 2 of 5) after 500ms',
  '{"level":"info","msg":"job finished","job":"compact","took":"1.2s","items":4096}',
  'DEBUG cache key=user:1234:profile hit ratio 0.93',
];

function chunk() {
  const parts = [];
  let n = 0;
  for (let i = 0; n < 64 * 1024; i++) {
    const l = `2026-12-02T18:55:54.${String(i % 1000).padStart(3, '0')}Z stdout ${LINES[i % LINES.length]} i=${i}\n`;
    parts.push(l);
    n += l.length;
  }
  return parts.join('');
}

function mbPerS(fn, text, ms = 400) {
  const runs = [];
  for (let r = 0; r < 5; r++) {
    let bytes = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms / 5) {
      fn(text);
      bytes += text.length;
    }
    runs.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  return median(runs);
}

function msOf(fn, text) {
  const t0 = performance.now();
  fn(text);
  return performance.now() - t0;
}

export async function run(row) {
  const text = chunk();
  const ours = new Redactor({ literals: SECRETS });
  const stream = ours.stream();
  const spool = legacySpoolRedact();
  const pack = legacyPackRedact(SECRETS);
  for (let i = 0; i < 20; i++) {
    stream(text);
    spool(text);
    pack(text);
  }
  const o = mbPerS(stream, text);
  const s = mbPerS(spool, text);
  const p = mbPerS(pack, text);
  row('redaction of ordinary log lines (64 KiB enveloped chunks)', o.toFixed(1), 'MB/s', s.toFixed(1), 'MB/s previous spool regexes', o / s, 'ratio ≥ 0.9');
  row('redaction of ordinary log lines, against the pack redactor', o.toFixed(1), 'MB/s', p.toFixed(1), 'MB/s previous pack regexes', o / p, 'ratio ≥ 0.9');
  // one socket read's worth (the old lookbehinds crossed newlines, so a chunk cost its length squared)
  const spaces = `${' '.repeat(8_000)}\n`.repeat(8);
  const oursMs = msOf(stream, spaces);
  const oldMs = msOf(spool, spaces);
  row('8 lines of 8,000 spaces in one chunk, one redaction', oursMs.toFixed(2), 'ms', oldMs.toFixed(0), 'ms previous spool regexes', oursMs / oldMs, 'linear; far below the old');
  // t(8n) / (8 t(n)) on shapes that make a backtracking or rescanning redactor quadratic: about 1 when the work
  // is linear, about 8 when it is quadratic. The worst shape is the figure.
  const adversarial = new Redactor({ literals: ['CANARY-7f3a9c1e5', 'another-secret'], patterns: ['sk_[a-z]+', '(x+)+y'] });
  let worst = { unit: '', ratio: 0 };
  for (const unit of ADVERSARIAL) {
    const ratio = linearity(adversarial, unit, 20_000);
    if (ratio > worst.ratio) worst = { unit, ratio };
  }
  row(`adversarial shapes: time of 8n in one piece / 8 × time of n (worst: ${JSON.stringify(worst.unit)})`, worst.ratio.toFixed(2), 'ratio', '', '', undefined, '< 3.75 (quadratic: ~8)');
}

const ADVERSARIAL = [' ', 'a=', 'password=', '://', 'http://a:', 'Bearer ', 'Basic ', 'wos_', 'wos_a', 'eyJ', 'eyJaaaaaaaa.', 'token', 'DB_PASSWORD', '"key": "', '-----BEGIN PRIVATE KEY-----\n', 'CANARY-7f3a9c1e5', 'x'];

/** Best of 7 of one input of 8n characters against best of 7 of eight inputs of n, so load hits both alike. */
function linearity(r, unit, n) {
  const small = unit.repeat(Math.ceil(n / unit.length));
  const large = unit.repeat(8 * Math.ceil(n / unit.length));
  const best = (f) => {
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      f();
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  };
  const eightSmall = best(() => {
    for (let k = 0; k < 8; k++) r.text(small);
  });
  return best(() => r.text(large)) / eightSmall;
}
