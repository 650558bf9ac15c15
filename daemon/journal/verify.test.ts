import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/index.js';
import { type ChainLink, ChainWalker, GENESIS_HASH, canonicalBody, chainHash, verifyChain } from './index.js';

/** A valid chain of `n` events from genesis, with the canonical body each hash covers. */
function chain(n: number): { link: ChainLink; body: string }[] {
  const out: { link: ChainLink; body: string }[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const data = { seq, z: 1, a: 'x' };
    const e = { v: 1 as const, seq, ts: '2026-01-01T00:00:00.000Z', mono_ms: seq, run_id: 'r', boot_id: 'b', kind: 'k', severity: 'info' as const, source: 's', reason: `r${seq}`, data };
    const body = canonicalBody(e, canonicalJson(data));
    const hash = chainHash(prev, body);
    out.push({ link: { ...e, prev_hash: prev, hash }, body });
    prev = hash;
  }
  return out;
}

describe('ChainWalker', () => {
  it('is what verifyChain reports with: the same counts, head and first break', () => {
    const links = chain(6).map((c) => c.link);
    const walker = new ChainWalker();
    for (const l of links) walker.push(l);
    expect(walker.report()).toEqual(verifyChain(links));
    expect(walker.report()).toMatchObject({ ok: true, events: 6, firstSeq: 1, lastSeq: 6, head: links[5]?.hash });
  });

  it('stops at the first break and says no to every link after it', () => {
    const links = chain(6).map((c) => c.link);
    const walker = new ChainWalker();
    const said = links.map((l, i) => walker.push(i === 2 ? { ...l, reason: 'forged' } : l));
    expect(said).toEqual([true, true, false, false, false, false]);
    expect(walker.report()).toMatchObject({ ok: false, events: 2, lastSeq: 2, head: links[1]?.hash, broken: { seq: 3 } });
  });

  it("anchored on 'first', hangs a window that starts mid-chain on its first link's prev_hash", () => {
    const links = chain(8).map((c) => c.link);
    const walker = new ChainWalker('first');
    for (const l of links.slice(3)) expect(walker.push(l)).toBe(true);
    expect(walker.anchor).toEqual({ prevHash: links[2]?.hash, seq: 3 });
    expect(walker.report()).toMatchObject({ ok: true, events: 5, firstSeq: 4, lastSeq: 8 });
    // From genesis, the same window is a journal that does not start at 1.
    expect(verifyChain(links.slice(3)).broken).toEqual({ seq: 4, code: 'seq.start', problem: 'the journal starts at seq 4, expected 1' });
  });

  it('hashes the body it is given instead of making it again', () => {
    const [a, b] = chain(2);
    const walker = new ChainWalker();
    expect(walker.push(a?.link as ChainLink, a?.body)).toBe(true);
    // The link is intact; a body that is not its own must fail the hash, so the given one is what was hashed.
    expect(walker.push(b?.link as ChainLink, (b?.body as string).replace('"r2"', '"r3"'))).toBe(false);
    expect(walker.report().broken?.problem).toMatch(/changed after it was written/);
  });

  it('reads stored rows, whose data is text', () => {
    const rows = chain(3).map((c) => ({ ...c.link, data: JSON.stringify(c.link.data) }));
    expect(verifyChain(rows)).toMatchObject({ ok: true, events: 3 });
    expect(verifyChain(rows.map((r, i) => (i === 1 ? { ...r, data: '{' } : r))).broken).toEqual({ seq: 2, code: 'data.invalid', problem: 'data is not valid JSON' });
  });
});
