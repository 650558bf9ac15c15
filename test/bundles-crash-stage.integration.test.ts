import { describe, it } from 'vitest';
import { bundleRig, installKilledAt } from './helpers/bundle-rig.js';

const rig = bundleRig({ prefix: 'waveos-bundles-crash-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  max_trial_starts: 3\n' });

describe('kill -9 at every state of the install machine (before activation)', () => {
  const points = ['received', 'verified', 'bundle.during:staging', 'staged'].map((s) => (s.includes(':') ? s : `bundle.after:${s}`));
  it.each(points)('%s: the board is on the old or the new version, never a mix, and a restart finishes the install', (point) => installKilledAt(rig, point));
});
