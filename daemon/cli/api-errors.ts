import type { ClientResponse } from '../api/index.js';
import { type ErrorCode, ErrorCodes, WaveosError } from '../core/index.js';

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/** Turns a non-2xx answer from the daemon into the matching typed error (and so the right exit code). */
export function checkResponse(r: ClientResponse): unknown {
  if (r.status >= 200 && r.status < 300) return r.body;
  const err = (r.body as ErrorBody | null)?.error;
  const message = err?.message ?? `the daemon answered HTTP ${r.status}`;
  // A verification failure keeps its own code (and so exit 5) across the socket.
  if (r.status === 422 && err?.code && err.code in ErrorCodes) throw new WaveosError(err.code as ErrorCode, message);
  // So does a full disk (exit 1), so that an operator sees what to free rather than a generic failure.
  if (r.status === 503 && err?.code === 'WAVEOS_E_DISK_FULL') throw new WaveosError('WAVEOS_E_DISK_FULL', message);
  if (r.status === 401 || r.status === 403) throw new WaveosError('WAVEOS_E_PERMISSION', `permission denied: ${message}`);
  // An unknown name (service, token, pack) is invalid input to the command: exit 2.
  if (r.status === 400 || r.status === 404 || r.status === 405 || r.status === 413) throw new WaveosError('WAVEOS_E_USAGE', message);
  throw new WaveosError('WAVEOS_E_RUNTIME', message);
}
