import type { CatalogueKind } from '../daemon/journal/index.js';

/** Whether an event read back (CLI, API, events.jsonl) is of one of these kinds: each is checked against the catalogue when compiled. */
export function isKind(e: { kind?: unknown }, ...kinds: CatalogueKind[]): boolean {
  return typeof e.kind === 'string' && (kinds as readonly string[]).includes(e.kind);
}
