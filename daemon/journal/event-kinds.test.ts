import { describe, expect, it } from 'vitest';
import { INSTALL_STATES, type InstallState } from '../bundles/index.js';
import { EVENT_KINDS, EVENT_KIND_PATTERN, type EventKind, SEVERITIES, highlightOf, isCatalogueKind, policyEventKind } from './index.js';

const entries = Object.entries(EVENT_KINDS);

describe('the event-kind catalogue', () => {
  it('lists dotted lowercase kinds, each with a severity, a one-line meaning and its data fields', () => {
    expect(entries.length).toBeGreaterThan(80);
    for (const [kind, spec] of entries) {
      expect(kind, kind).toMatch(EVENT_KIND_PATTERN);
      expect(kind, kind).toBe(kind.toLowerCase());
      expect(SEVERITIES, kind).toContain(spec.severity);
      expect(spec.meaning.trim().length, kind).toBeGreaterThan(10);
      expect(spec.meaning, kind).not.toMatch(/\n/);
      expect([null, 'policy', 'recovery'], kind).toContain(spec.highlight);
      for (const f of spec.data) expect(f, kind).toMatch(/^([a-z][a-z0-9_]*|\.\.\.)$/);
      expect(new Set(spec.data).size, `${kind}: a data field twice`).toBe(spec.data.length);
    }
  });

  it("has every bundle install state's event", () => {
    const kinds = INSTALL_STATES.map((s) => `bundle.${s}`);
    expect(kinds.filter((k) => !isCatalogueKind(k))).toEqual([]);
    // The same at compile time: a template kind over the states is an EventKind.
    const typed = (s: InstallState): EventKind => `bundle.${s}`;
    expect(typed('committed')).toBe('bundle.committed');
  });

  it("picks the evidence report's highlights from its flag", () => {
    expect(highlightOf('mode.changed')).toBe('recovery');
    expect(highlightOf('bundle.rolled_back')).toBe('recovery');
    expect(highlightOf('policy.breaker_open')).toBe('policy');
    expect(highlightOf('service.exited')).toBeUndefined();
    expect(highlightOf('daemon.start')).toBeUndefined();
    // Kinds a policy names itself are not listed: under policy. they are a policy's.
    expect(highlightOf('policy.cooled')).toBe('policy');
    expect(highlightOf('spool.suppressing')).toBeUndefined();
  });

  it("lets a policy's own kind through only in the shape the policy schema allows", () => {
    expect(policyEventKind('spool.suppressing')).toBe('spool.suppressing');
    expect(policyEventKind('alert')).toBe('alert');
    expect(() => policyEventKind('Not A Kind')).toThrow(/not a dotted event kind/);
    expect(() => policyEventKind('a..b')).toThrow(/not a dotted event kind/);
  });
});
