// Crashes at a configurable rate: after --after-ms, or after a seeded random time around --mean-s seconds.
import { common, flags, num, rng, seedOf } from './lib.mjs';

const f = flags();
await common(f);
const random = rng(seedOf(f));
const afterMs = f['after-ms'] !== undefined ? num(f['after-ms'], 1000) : Math.round(num(f['mean-s'], 45) * 1000 * (0.5 + random()));
const code = num(f['exit-code'], 1);
console.log(`crasher: pid ${process.pid}, crashing with code ${code} in ${afterMs} ms`);
setTimeout(() => {
  console.error(`crasher: simulated crash (exit ${code})`);
  process.exit(code);
}, afterMs);
setInterval(() => {}, 60_000);
