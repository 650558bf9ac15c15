import { apiCall } from '../api/client.js';
import { WaveosError } from '../core/errors.js';
import { checkResponse } from './api-errors.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos mode [get] | set MODE --reason TEXT [--json] [--root DIR]';

export async function modeCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseFlags(argv, { reason: { type: 'string' } }, USAGE);
  const [sub = 'get', mode, ...extra] = positionals;
  const opts = clientOptions(rootPaths(values.root), values['token-file']);
  if (sub === 'get' && mode === undefined) {
    const body = checkResponse(await apiCall(opts, 'GET', '/v1/mode')) as { mode: string };
    io.out(values.json ? JSON.stringify(body) : body.mode);
    return 0;
  }
  if (sub === 'set' && mode !== undefined && extra.length === 0) {
    if (!values.reason) throw new WaveosError('WAVEOS_E_USAGE', `a mode change needs --reason TEXT\nusage: ${USAGE}`);
    const body = checkResponse(await apiCall(opts, 'POST', '/v1/mode', { mode, reason: values.reason })) as { mode: string; result: string };
    io.out(values.json ? JSON.stringify(body) : body.result);
    return 0;
  }
  throw new WaveosError('WAVEOS_E_USAGE', `usage: ${USAGE}`);
}
