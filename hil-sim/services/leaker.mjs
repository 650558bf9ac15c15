// Leaks memory at a steady rate until --max-mb, then gives up the way an OOM-killed process would (exit 137).
import { common, flags, num, rng, seedOf } from './lib.mjs';

const f = flags();
await common(f);
const random = rng(seedOf(f));
const kbPerS = num(f['kb-per-s'], 128);
const maxMb = num(f['max-mb'], 32);
const held = [];
let total = 0;
setInterval(() => {
  const b = Buffer.alloc(kbPerS * 1024, Math.floor(random() * 255));
  held.push(b);
  total += b.length;
  if (total >= maxMb * 1024 * 1024) {
    console.error(`leaker: ${Math.round(total / 1048576)} MiB held, giving up`);
    process.exit(137);
  }
}, 1000);
console.log(`leaker: pid ${process.pid}, ${kbPerS} KiB/s up to ${maxMb} MiB`);
