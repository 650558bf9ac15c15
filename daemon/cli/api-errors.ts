import type { ClientResponse } from '../api/client.js';
import { type ErrorCode, WaveosError, isErrorCode } from '../core/errors.js';

interface ErrorBody {
  error?: { code?: unknown; message?: unknown };
}

/** A WaveOS code for an answer that carries none (not the daemon's answer, or no JSON): guessed from the status. */
function codeOfStatus(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'WAVEOS_E_PERMISSION';
  // An unknown name or a refused request is invalid input to the command: exit 2.
  if (status === 400 || status === 404 || status === 405 || status === 413) return 'WAVEOS_E_USAGE';
  return 'WAVEOS_E_RUNTIME';
}

/**
 * Turns a non-2xx answer from the daemon into a typed error: the daemon's own code when the body carries one
 * (so the exit status is that code's, core's table), else one guessed from the status.
 */
export function checkResponse(r: ClientResponse): unknown {
  if (r.status >= 200 && r.status < 300) return r.body;
  const err = (r.body as ErrorBody | null)?.error;
  const message = typeof err?.message === 'string' ? err.message : `the daemon answered HTTP ${r.status}`;
  const sent = err?.code;
  const code = isErrorCode(sent) ? sent : codeOfStatus(r.status);
  throw new WaveosError(code, code === 'WAVEOS_E_PERMISSION' ? `permission denied: ${message}` : message);
}
