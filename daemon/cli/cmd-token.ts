import { apiCall } from '../api/index.js';
import { WaveosError, systemClock } from '../core/index.js';
import { TOKEN_ROLES, type TokenInfo, type TokenRole, TokenStore } from '../security/index.js';
import { checkResponse } from './api-errors.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos token create NAME --role viewer|operator|admin | list | revoke NAME  [--offline] [--json] [--root DIR]';

/**
 * Through the daemon (admin role) by default. `--offline` edits the token store file directly: that is how
 * the first admin token is made on a prod board, by whoever may write the daemon's state directory.
 */
export async function tokenCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseFlags(argv, { role: { type: 'string' }, offline: { type: 'boolean' } }, USAGE);
  const [sub, name, ...extra] = positionals;
  if (extra.length) throw new WaveosError('WAVEOS_E_USAGE', `unexpected argument "${extra[0]}"\nusage: ${USAGE}`);
  const paths = rootPaths(values.root);
  const store = new TokenStore(paths.tokensFile, systemClock);
  const opts = clientOptions(paths, values['token-file']);
  switch (sub) {
    case 'create': {
      if (!name) throw new WaveosError('WAVEOS_E_USAGE', `token create needs a NAME\nusage: ${USAGE}`);
      const role = values.role;
      if (!role || !(TOKEN_ROLES as readonly string[]).includes(role)) throw new WaveosError('WAVEOS_E_USAGE', `--role: expected viewer, operator or admin, got "${role ?? ''}"`);
      const token = values.offline
        ? store.create(name, role as TokenRole)
        : (checkResponse(await apiCall(opts, 'POST', '/v1/tokens', { name, role })) as { token: string }).token;
      if (values.json) io.out(JSON.stringify({ name, role, token }));
      else io.out(`${token}\n(token "${name}", role ${role}: shown once, stored only as a hash)`);
      return 0;
    }
    case 'list': {
      const tokens = values.offline ? store.list() : (checkResponse(await apiCall(opts, 'GET', '/v1/tokens')) as { tokens: TokenInfo[] }).tokens;
      if (values.json) io.out(JSON.stringify({ tokens }));
      else if (tokens.length === 0) io.out('no tokens');
      else io.out(tokens.map((t) => `${t.name.padEnd(24)} ${t.role.padEnd(9)} created ${t.created_at}${t.revoked_at ? `  REVOKED ${t.revoked_at}` : ''}`).join('\n'));
      return 0;
    }
    case 'revoke': {
      if (!name) throw new WaveosError('WAVEOS_E_USAGE', `token revoke needs a NAME\nusage: ${USAGE}`);
      if (values.offline) {
        if (!store.revoke(name)) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no active token named "${name}"`);
      } else {
        checkResponse(await apiCall(opts, 'DELETE', `/v1/tokens?name=${encodeURIComponent(name)}`));
      }
      io.out(`revoked "${name}"`);
      return 0;
    }
    default:
      throw new WaveosError('WAVEOS_E_USAGE', `unknown token command "${sub ?? ''}"\nusage: ${USAGE}`);
  }
}
