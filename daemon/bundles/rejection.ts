import { type ErrorCode, WaveosError } from '../core/index.js';

/**
 * Why a bundle was refused. `check` is the stable name of the failed check (it goes into the
 * `bundle.rejected` event), the message says it in words, naming the member and the numbers.
 */
export class BundleRejection extends WaveosError {
  readonly check: string;
  readonly detail: Record<string, unknown>;

  constructor(code: ErrorCode, check: string, message: string, detail: Record<string, unknown> = {}) {
    super(code, message);
    this.name = 'BundleRejection';
    this.check = check;
    this.detail = detail;
  }
}

export function isBundleRejection(e: unknown): e is BundleRejection {
  return e instanceof BundleRejection;
}
