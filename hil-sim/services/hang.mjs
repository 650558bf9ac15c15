// Answers its health check (a heartbeat file) for a while, then hangs: alive, but the heartbeat stops.
import { common, flags, heartbeat, num, rng, seedOf } from './lib.mjs';

const f = flags();
await common(f);
const random = rng(seedOf(f));
const hangAfterMs = Math.round(num(f['hang-after-s'], 60) * 1000 * (f.exact ? 1 : 0.75 + random() / 2));
const file = typeof f.heartbeat === 'string' ? f.heartbeat : undefined;
const t0 = Date.now();
console.log(`hang: pid ${process.pid}, stops answering in ${hangAfterMs} ms`);
let hung = false;
const beat = setInterval(() => {
  if (Date.now() - t0 >= hangAfterMs) {
    if (!hung) console.error('hang: now hung (heartbeat stopped)');
    hung = true;
    return;
  }
  if (file) heartbeat(file);
}, num(f['heartbeat-ms'], 500));
if (file) heartbeat(file);
void beat;
