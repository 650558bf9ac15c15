// A well-behaved service: writes a heartbeat file and a status line now and then; runs until stopped.
import { common, flags, heartbeat, num } from './lib.mjs';

const f = flags();
await common(f);
const every = num(f['heartbeat-ms'], 1000);
let n = 0;
const tick = () => {
  if (typeof f.heartbeat === 'string') heartbeat(f.heartbeat);
  if (n++ % 60 === 0) console.log(`healthy: pid ${process.pid}, tick ${n}`);
};
tick();
setInterval(tick, every);
