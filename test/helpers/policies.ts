// Policy files the integration tests install: the breaker on service exits that most of them trip.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ExitBreaker {
  version: string;
  id?: string;
  threshold: number;
  window: string;
  open_for: string;
  probe: string;
  /** YAML flow mappings, one per action, e.g. `{ type: webhook, message: "..." }`. */
  actions?: string[];
}

/** A policy with one breaker that counts service.exited events and puts the device in safe mode. */
export function exitBreakerPolicy(b: ExitBreaker): string {
  const actions = b.actions?.length ? `    actions:\n${b.actions.map((a) => `      - ${a}\n`).join('')}` : '';
  return `policy_version: "${b.version}"
rules:
  - id: ${b.id ?? 'crash-storm'}
    kind: breaker
    trigger: { event: service.exited }
    threshold: ${b.threshold}
    window: ${b.window}
    open_for: ${b.open_for}
    probe: ${b.probe}
    mode: safe
${actions}`;
}

/** Writes a policy file into the root's etc/waveos/policies.d/. */
export function installPolicy(root: string, file: string, text: string): string {
  const dir = join(root, 'etc/waveos/policies.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), text);
  return join(dir, file);
}
