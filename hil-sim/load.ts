import type { Ledger } from './invariants.js';
import type { Prng } from './prng.js';
import { type Rig, sleep } from './rig.js';

/**
 * Event bursts through the real CLI while faults land: operator restarts and mode changes, one at a time,
 * so the rig always knows which request (if any) was in flight when the daemon died.
 */
export class Load {
  private stopped = false;
  private loop: Promise<void> | undefined;
  inFlight: string | undefined;
  sent = 0;
  acked = 0;

  constructor(
    private readonly rig: Rig,
    private readonly ledger: Ledger,
    private readonly prng: Prng,
    private readonly serviceNames: string[],
    private readonly modes: readonly string[] = ['normal', 'degraded'],
  ) {}

  start(): void {
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.rig.daemon || this.rig.daemon.exited) {
        await sleep(100);
        continue;
      }
      const modeChange = this.prng.chance(0.25);
      this.sent++;
      if (modeChange) {
        const mode = this.prng.pick(this.modes);
        this.inFlight = 'mode';
        // Until this answers, the mode the journal ends with may be either.
        this.ledger.lastModeSet = undefined;
        const r = await this.rig.cli(['mode', 'set', mode, '--reason', `hil load ${this.sent}`, '--json'], 20_000);
        if (r.code === 0) {
          this.acked++;
          const body = JSON.parse(r.stdout) as { intent_id: number };
          this.ledger.intents.add(body.intent_id);
          this.ledger.lastModeSet = mode;
        }
      } else {
        const name = this.prng.pick(this.serviceNames);
        this.inFlight = 'service';
        const r = await this.rig.cli(['service', 'restart', name, '--reason', `hil load ${this.sent}`, '--json'], 20_000);
        if (r.code === 0) {
          this.acked++;
          this.ledger.intents.add((JSON.parse(r.stdout) as { intent_id: number }).intent_id);
        }
      }
      this.inFlight = undefined;
      await sleep(this.prng.int(20, 200));
    }
  }
}
