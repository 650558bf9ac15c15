// Floods stdout in short bursts: --burst-lines lines every --period-s seconds, then stays quiet.
import { common, flags, num, rng, seedOf } from './lib.mjs';

const f = flags();
await common(f);
const random = rng(seedOf(f));
const lines = num(f['burst-lines'], 500);
const period = num(f['period-s'], 60) * 1000;
let burst = 0;
const flood = () => {
  burst++;
  const salt = Math.floor(random() * 1e9);
  let out = '';
  for (let i = 0; i < lines; i++) out += `flooder: burst ${burst} line ${i} value ${(salt + i * 7919) % 100000}\n`;
  process.stdout.write(out);
};
flood();
setInterval(flood, period);
