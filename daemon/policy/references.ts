import { type InputProblem, didYouMean } from '../core/index.js';
import { BUDGET_METRICS } from './budget-metrics.js';
import type { ParsedPolicyFile } from './parse.js';
import { actionLists } from './rule-actions.js';

/**
 * What a policy may name on this device: configured services, the metrics an enabled collector produces,
 * the event kinds WaveOS journals. A rule naming anything else could never fire.
 */
export interface PolicyWorld {
  services: readonly string[];
  metrics: readonly string[];
  eventKinds: readonly string[];
}

/** Services installed by app bundles at run time (`app-<name>`): not in the config, so not checked. */
const APP_SERVICE = /^app-/;

/** Every name in the files that this device does not have, located, with the nearest name it does have. */
export function referenceProblems(files: readonly ParsedPolicyFile[], world: PolicyWorld): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const f of files) {
    const service = (path: PropertyKey[], name: string | undefined): void => {
      if (name === undefined || APP_SERVICE.test(name) || world.services.includes(name)) return;
      problems.push(f.locate(path, `no service named "${name}" is configured${didYouMean(name, world.services)} (configured: ${world.services.join(', ') || 'none'})`));
    };
    const metric = (path: PropertyKey[], name: string, why = ''): void => {
      if (world.metrics.includes(name)) return;
      problems.push(f.locate(path, `no enabled collector produces the metric "${name}"${why}${didYouMean(name, world.metrics)} (docs/telemetry.md lists them)`));
    };
    f.spec.rules.forEach((r, i) => {
      const at = (...p: PropertyKey[]): PropertyKey[] => ['rules', i, ...p];
      if (r.kind === 'budget') {
        service(at('service'), r.service);
        const m = r.metric ?? BUDGET_METRICS[r.resource].metric;
        metric(at(r.metric === undefined ? 'resource' : 'metric'), m, r.metric === undefined ? ` (resource ${r.resource} is read from it)` : '');
      }
      if (r.kind === 'cap') service(at('service'), r.service);
      if (r.kind === 'threshold') {
        metric(at('metric'), r.metric);
        service(at('labels', 'service'), r.labels?.service);
      }
      if (r.kind === 'breaker') {
        const t = r.trigger;
        if ('event' in t && !world.eventKinds.includes(t.event)) {
          problems.push(f.locate(at('trigger', 'event'), `WaveOS journals no event of kind "${t.event}"${didYouMean(t.event, world.eventKinds)} (docs/events.md lists them)`));
        }
        if ('metric' in t) metric(at('trigger', 'metric'), t.metric);
        service(at('trigger', 'labels', 'service'), t.labels?.service);
      }
      for (const [key, list] of actionLists(r)) {
        list?.forEach((a, j) => {
          if ('service' in a) service(at(key, j, 'service'), a.service);
        });
      }
    });
  }
  return problems;
}
