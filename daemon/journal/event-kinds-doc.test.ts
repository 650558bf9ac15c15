import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type EventKindRow, catalogueRows, eventKindsTable, parseEventKindsTable, withEventKindsTable } from './index.js';

const DOC = new URL('../../docs/events.md', import.meta.url);

/** What differs between a document's table and the catalogue, both ways. */
function differences(docRows: EventKindRow[]): { notInDocs: string[]; notInCatalogue: string[]; changed: string[] } {
  const cat = new Map(catalogueRows().map((r) => [r.kind, r]));
  const doc = new Map(docRows.map((r) => [r.kind, r]));
  return {
    notInDocs: [...cat.keys()].filter((k) => !doc.has(k)),
    notInCatalogue: [...doc.keys()].filter((k) => !cat.has(k)),
    changed: [...cat.keys()].filter((k) => doc.has(k) && JSON.stringify(doc.get(k)) !== JSON.stringify(cat.get(k))),
  };
}

describe('docs/events.md', () => {
  it('has the table of the catalogue, no kind more and none less (node scripts/event-kinds-doc.mjs rewrites it)', () => {
    const rows = parseEventKindsTable(readFileSync(DOC, 'utf8'));
    expect(differences(rows)).toEqual({ notInDocs: [], notInCatalogue: [], changed: [] });
    expect(rows.length).toBe(catalogueRows().length);
  });

  it('the comparison sees a kind missing, one too many and a changed severity', () => {
    const table = eventKindsTable();
    const lines = table.split('\n');
    const dropped = lines.filter((l) => !l.startsWith('| `mode.changed`')).join('\n');
    const extra = table.replace(/^(\| kind .*\n\|---.*\n)/m, '$1| `made.up` | info |  |  | not written by anyone |\n');
    const changed = table.replace('| `daemon.fatal` | critical |', '| `daemon.fatal` | error |');
    expect(differences(parseEventKindsTable(dropped)).notInDocs).toEqual(['mode.changed']);
    expect(differences(parseEventKindsTable(extra)).notInCatalogue).toEqual(['made.up']);
    expect(differences(parseEventKindsTable(changed)).changed).toEqual(['daemon.fatal']);
  });

  it('rewrites only what is between the markers', () => {
    const doc = `# T\n\nbefore\n\n${eventKindsTable().replace('| `daemon.fatal` | critical |', '| `daemon.fatal` | error |')}\n\nafter\n`;
    const next = withEventKindsTable(doc);
    expect(next.startsWith('# T\n\nbefore\n\n')).toBe(true);
    expect(next.endsWith('\n\nafter\n')).toBe(true);
    expect(differences(parseEventKindsTable(next))).toEqual({ notInDocs: [], notInCatalogue: [], changed: [] });
  });
});
