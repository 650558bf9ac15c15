import { type BundleFeed, HIL_APP } from './bundles.js';
import type { Ledger } from './invariants.js';
import type { Prng } from './prng.js';
import { type Rig, sleep } from './rig.js';

export interface LoadExtras {
  /** Signed app bundles to install now and then (one in ten requests, one in ten of them broken). */
  bundles?: BundleFeed;
  /** Evidence exports of the last minutes now and then (one in twenty requests). */
  evidence?: boolean;
}

/**
 * Event bursts through the real CLI while faults land: operator restarts, mode changes, bundle installs and
 * evidence exports, one at a time, so the rig always knows which request (if any) was in flight when the
 * daemon died.
 */
export class Load {
  private stopped = false;
  private loop: Promise<void> | undefined;
  inFlight: string | undefined;
  sent = 0;
  acked = 0;
  installs = 0;
  exports = 0;

  constructor(
    private readonly rig: Rig,
    private readonly ledger: Ledger,
    private readonly prng: Prng,
    private readonly serviceNames: string[],
    private readonly modes: readonly string[] = ['normal', 'degraded'],
    private readonly extras: LoadExtras = {},
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
      const roll = this.prng.next();
      this.sent++;
      if (this.extras.bundles && roll < 0.1) {
        await this.install(this.extras.bundles);
      } else if (this.extras.evidence && roll >= 0.1 && roll < 0.15) {
        await this.exportPack();
      } else if (roll >= 0.15 && roll < 0.35) {
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

  private async install(feed: BundleFeed): Promise<void> {
    const b = await feed.next(this.prng.chance(0.1));
    this.inFlight = 'bundle';
    this.installs++;
    const r = await this.rig.cli(['bundle', 'install', b.file], 60_000);
    if (r.code === 0) {
      this.acked++;
      this.ledger.installCommitted(`app/${HIL_APP}`, b.version);
    }
  }

  private async exportPack(): Promise<void> {
    this.inFlight = 'evidence';
    this.exports++;
    const r = await this.rig.cli(['evidence', 'export', '--since', '2m', '--reason', `hil load ${this.sent}`, '--json'], 60_000);
    if (r.code === 0) {
      this.acked++;
      // The daemon's own copy: acknowledged means it was committed to the device's pack folder.
      this.ledger.packs.add((JSON.parse(r.stdout) as { file: string }).file);
    }
  }
}
