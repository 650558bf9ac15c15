/** Edit distance (insertions, deletions, substitutions) between two short names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

const words = (s: string): string[] => s.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);

/** The share of the name's words that begin a word of the candidate (`temp_c` in `temperature_celsius`: 1). */
function wordPrefixShare(name: string, candidate: string): number {
  const n = words(name);
  const c = words(candidate);
  if (n.length === 0 || !n.some((w) => w.length >= 3)) return 0;
  return n.filter((w) => c.some((x) => x.startsWith(w))).length / n.length;
}

/**
 * The candidate a typo most likely meant: the closest by edit distance, when it is within a third of the
 * name's length (so `leakr` finds `leaker` but `x` finds nothing); else the one most of whose words the
 * name's words begin (`board.temp_c` finds `temperature_celsius`).
 */
export function nearestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3))) return best;
  let byWords: string | undefined;
  let share = 0.5;
  for (const c of candidates) {
    const x = wordPrefixShare(name, c);
    if (x >= share) [byWords, share] = [c, x + 1e-9];
  }
  return byWords;
}

/** `; did you mean "x"?` for a message, or nothing. */
export function didYouMean(name: string, candidates: readonly string[]): string {
  const n = nearestName(name, candidates);
  return n === undefined ? '' : `; did you mean "${n}"?`;
}
