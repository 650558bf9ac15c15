import { apiCall } from '../api/client.js';
import { WaveosError } from '../core/errors.js';
import { checkResponse } from './api-errors.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos service list [--json] | start NAME | stop NAME | restart NAME [--reason TEXT] [--root DIR]';

interface Figures {
  name: string;
  state: string;
  pid: number | null;
  restarts: number;
  uptime_s: number;
  last_exit: { code: number | null; signal: string | null } | null;
  held?: string | null;
}

export async function serviceCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseFlags(argv, { reason: { type: 'string' } }, USAGE);
  const [sub, name, ...extra] = positionals;
  const opts = clientOptions(rootPaths(values.root), values['token-file']);
  if (sub === 'list' && name === undefined) {
    const body = checkResponse(await apiCall(opts, 'GET', '/v1/services')) as { services: Figures[] };
    if (values.json) {
      io.out(JSON.stringify({ services: body.services }));
      return 0;
    }
    if (body.services.length === 0) {
      io.out('no services configured');
      return 0;
    }
    const rows = body.services.map((s) => [
      s.name,
      s.state,
      s.pid === null ? '-' : String(s.pid),
      String(s.restarts),
      `${s.uptime_s}s`,
      s.last_exit ? (s.last_exit.signal ?? `exit ${s.last_exit.code}`) : '-',
      s.held ?? '',
    ]);
    const head = ['NAME', 'STATE', 'PID', 'RESTARTS', 'UPTIME', 'LAST EXIT', 'NOTE'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const r of [head, ...rows]) io.out(r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ').trimEnd());
    return 0;
  }
  if ((sub === 'start' || sub === 'stop' || sub === 'restart') && name !== undefined && extra.length === 0) {
    const body = checkResponse(await apiCall(opts, 'POST', '/v1/services/action', { action: sub, name, reason: values.reason })) as {
      intent_id: number;
      result: string;
    };
    io.out(values.json ? JSON.stringify(body) : body.result);
    return 0;
  }
  throw new WaveosError('WAVEOS_E_USAGE', `usage: ${USAGE}`);
}
