import { renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Logger, type Paths, WaveosError, errorMessage, fsyncDir, unlinkDurable } from '../core/index.js';
import type { ActionHandlers, ActionMap, ActionOutcome } from '../recovery/index.js';
import type { Because, ServiceInput, Supervisor } from '../services/index.js';
import { APP_BUNDLE_ENV, appServiceInput, appServiceName } from './app-service.js';
import { LINK_CURRENT, LINK_LKG, LINK_PREVIOUS, groupDir, listGroups, pruneGroup, readGroup, readSlotManifest, slotStatus } from './slots.js';

/**
 * The update agent's actions, run by the executor: the only code that switches a bundle group's links or
 * starts and stops an app bundle's service (through the one supervisor).
 */
export type BundleActions = Pick<ActionMap, 'bundle.activate' | 'bundle.commit' | 'bundle.rollback'>;

/** What the supervisor says about an app's service. */
export interface AppState {
  pid: number | null;
  last_exit: { code: number | null; signal: string | null } | null;
  trial: boolean;
  /** The bundle the service was registered from. */
  bundle_id: string | null;
}

/** The part of the supervisor app bundles use; tests put a fake in its place. */
export interface AppHost {
  state(service: string): AppState | undefined;
  /** Adds (or replaces, when stopped) the service; does not start it. */
  register(input: ServiceInput, trial: boolean): void;
  start(service: string, why: Because): Promise<number>;
  stop(service: string, why: Because): Promise<void>;
  remove(service: string): void;
  setTrial(service: string, trial: boolean): void;
}

/** App bundles' services on the daemon's supervisor. */
export function supervisorAppHost(sup: Supervisor): AppHost {
  return {
    state: (s) => (sup.has(s) ? { ...sup.state(s), bundle_id: sup.spec(s).env[APP_BUNDLE_ENV] ?? null } : undefined),
    register: (input, trial) => void sup.addService(input, { trial }),
    start: async (s, why) => (await sup.startService(s, why)).pid,
    stop: async (s, why) => void (sup.has(s) ? await sup.stopService(s, why) : undefined),
    remove: (s) => (sup.has(s) ? sup.removeService(s) : undefined),
    setTrial: (s, trial) => (sup.has(s) ? sup.setTrial(s, trial) : undefined),
  };
}

export interface BundleHandlerDeps {
  paths: Paths;
  apps: AppHost;
  log: Logger;
}

function short(id: string | undefined | null): string {
  return id ? id.slice(0, 12) : 'none';
}

/** Points `link` at `id` by renaming a fresh symlink over it: readers see the old slot or the new one. */
export function switchLink(dir: string, link: string, id: string | undefined): void {
  const path = join(dir, link);
  if (id === undefined) {
    unlinkDurable(path);
    return;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  symlinkSync(id, tmp);
  renameSync(tmp, path);
  fsyncDir(dir);
}

/**
 * Registers the service of every installed app's current slot, before the supervisor's services are started
 * (so committed apps come back after a restart like configured services). The app of the install on trial
 * (`onTrial`) is registered on trial: its exits are that trial's verdict.
 */
export function registerApps(paths: Paths, apps: AppHost, log: Logger, onTrial: { name: string; bundle_id: string } | undefined): void {
  for (const g of listGroups(paths)) {
    if (g.kind !== 'app' || !g.current) continue;
    const manifest = readSlotManifest(join(g.dir, g.current));
    try {
      const input = manifest && appServiceInput(paths.root, join(g.dir, g.current), manifest);
      if (input) apps.register(input, onTrial?.name === g.name && onTrial.bundle_id === g.current);
    } catch (e) {
      log.error({ app: g.name, err: errorMessage(e) }, `app ${g.name} cannot be registered as a service`);
    }
  }
}

/** The executor's handlers of the bundle actions. */
export function bundleHandlers(deps: BundleHandlerDeps): ActionHandlers<BundleActions> {
  const group = (p: { kind: string; name: string }): string => `${p.kind}/${p.name}`;
  return {
    'bundle.activate': { target: group, run: (p, why) => activate(deps, p, why) },
    'bundle.commit': { target: group, run: (p) => commit(deps, p) },
    'bundle.rollback': { target: group, run: (p, why) => rollback(deps, p, why) },
  };
}

async function activate(d: BundleHandlerDeps, p: ActionMap['bundle.activate'], why: Because): Promise<ActionOutcome> {
  const dir = groupDir(d.paths, p.kind, p.name);
  // Only a slot marked good may become current; the agent re-stages one the disk lost before asking.
  if (slotStatus(join(dir, p.bundle_id)) !== 'good') throw new WaveosError('WAVEOS_E_RUNTIME', `slot ${short(p.bundle_id)} of ${p.kind}/${p.name} is not marked good`);
  switchLink(dir, LINK_CURRENT, p.bundle_id);
  const app = await putInService(d, p.kind, p.name, p.bundle_id, true, why);
  return { reason: `current of ${p.kind}/${p.name} points at slot ${short(p.bundle_id)} (was ${short(p.from)})${app.said}`, data: { from: p.from, to: p.bundle_id, ...app.data } };
}

function commit(d: BundleHandlerDeps, p: ActionMap['bundle.commit']): ActionOutcome {
  const g = readGroup(d.paths, p.kind, p.name);
  if (g.lastKnownGood !== p.bundle_id) {
    if (g.lastKnownGood) switchLink(g.dir, LINK_PREVIOUS, g.lastKnownGood);
    switchLink(g.dir, LINK_LKG, p.bundle_id);
  }
  const pruned = pruneLinked(d.paths, p.kind, p.name);
  // Committed: from now on its exits go to the recovery ladder like any service's.
  if (p.kind === 'app') d.apps.setTrial(appServiceName(p.name), false);
  return {
    reason: `slot ${short(p.bundle_id)} is the last known-good of ${p.kind}/${p.name}${pruned.length ? `; ${pruned.length} older slot(s) pruned` : ''}`,
    data: { last_known_good: p.bundle_id, pruned },
  };
}

async function rollback(d: BundleHandlerDeps, p: ActionMap['bundle.rollback'], why: Because): Promise<ActionOutcome> {
  const g = readGroup(d.paths, p.kind, p.name);
  const to = p.to ?? undefined;
  if (g.current !== to) switchLink(g.dir, LINK_CURRENT, to);
  const app = await putInService(d, p.kind, p.name, to, false, why);
  const byOperator = p.install_id === undefined;
  // An operator's rollback makes `to` the last known-good; an install's undoes the commit link a crash
  // between recording that link and the commit itself left behind.
  if (byOperator || g.lastKnownGood === p.from) switchLink(g.dir, LINK_LKG, to);
  if (byOperator && g.previousGood === to) switchLink(g.dir, LINK_PREVIOUS, undefined);
  // An operator's rollback keeps the slot it left (a newer version may come back); an install's keeps what the links name.
  const pruned = byOperator ? pruneGroup(g.dir, new Set([to, p.from].filter((x): x is string => !!x))) : pruneLinked(d.paths, p.kind, p.name);
  return { reason: `current of ${p.kind}/${p.name} points back at ${to ? `slot ${short(to)}` : 'no bundle'} (was ${short(p.from)})${app.said}`, data: { from: p.from, to: p.to, pruned, ...app.data } };
}

function pruneLinked(paths: Paths, kind: string, name: string): string[] {
  const g = readGroup(paths, kind, name);
  return pruneGroup(g.dir, new Set([g.current, g.lastKnownGood, g.previousGood].filter((x): x is string => !!x)));
}

/**
 * Puts slot `id` of an app into service: its service is replaced by the slot's and started (left running
 * when it already runs from that slot); no slot, or a slot without `app.run`, takes the service away.
 * Other kinds are in service once `current` names them. A start that fails is said, not thrown: the trial
 * then finds the app not running and fails, and a rollback starts the old one.
 */
async function putInService(d: BundleHandlerDeps, kind: string, name: string, id: string | undefined, trial: boolean, why: Because): Promise<{ said: string; data: Record<string, unknown> }> {
  if (kind !== 'app') return { said: '', data: {} };
  const service = appServiceName(name);
  const slotDir = id ? join(groupDir(d.paths, kind, name), id) : undefined;
  const manifest = slotDir ? readSlotManifest(slotDir) : undefined;
  const input = slotDir && manifest ? appServiceInput(d.paths.root, slotDir, manifest) : undefined;
  const now = d.apps.state(service);
  if (input && now?.pid != null && now.bundle_id === id) {
    d.apps.setTrial(service, trial);
    return { said: `; ${service} already runs it as pid ${now.pid}`, data: { service, pid: now.pid } };
  }
  if (now) {
    await d.apps.stop(service, why);
    d.apps.remove(service);
  }
  if (!input) return { said: now ? `; ${service} stopped and removed` : '', data: { service: null } };
  d.apps.register(input, trial);
  try {
    const pid = await d.apps.start(service, why);
    return { said: `; ${service} started as pid ${pid}`, data: { service, pid } };
  } catch (e) {
    d.log.error({ service, err: errorMessage(e) }, `app ${name} did not start`);
    return { said: `; ${service} did not start: ${errorMessage(e)}`, data: { service, pid: null, start_error: errorMessage(e) } };
  }
}
