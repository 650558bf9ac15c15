/* `--where` filters (tag=…, version=…, mode=…, bundle:NAME=VERSION, health<N, seen<DURATION) as SQL over fleet_devices. */
import { FleetCtlError } from './keys.js';
import { parseDuration } from './plan.js';

export interface Where {
  sql: string;
  params: unknown[];
}

/** Builds `AND …` clauses whose parameters start at $first. */
export function whereOf(filters: readonly string[], first: number): Where {
  const parts: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${first + params.length - 1}`;
  };
  for (const w of filters) {
    let m: RegExpExecArray | null;
    if ((m = /^tag=(.+)$/.exec(w))) parts.push(`${p(m[1])} = ANY(tags)`);
    else if ((m = /^version=(.+)$/.exec(w))) parts.push(`waveos_version = ${p(m[1])}`);
    else if ((m = /^mode=(.+)$/.exec(w))) parts.push(`mode = ${p(m[1])}`);
    else if ((m = /^device=(.+)$/.exec(w))) parts.push(`device_id = ${p(m[1])}`);
    else if ((m = /^bundle:([^=]+)=(.+)$/.exec(w))) parts.push(`bundles -> ${p(m[1])}::text ->> 'version' = ${p(m[2])}`);
    else if ((m = /^health(<|<=|>|>=)(\d+(?:\.\d+)?)$/.exec(w))) parts.push(`health ${m[1]} ${p(Number(m[2]))}`);
    else if ((m = /^seen(<|>)(\S+)$/.exec(w)) && parseDuration(m[2] as string) !== undefined) {
      parts.push(`last_seen ${m[1] === '<' ? '>' : '<'} now() - make_interval(secs => ${p((parseDuration(m[2] as string) as number) / 1000)})`);
    } else {
      throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--where ${JSON.stringify(w)}: expected tag=T, version=V, mode=M, device=D, bundle:NAME=V, health<N (or <=, >, >=) or seen<DURATION`, 2);
    }
  }
  return { sql: parts.map((x) => ` AND ${x}`).join(''), params };
}
