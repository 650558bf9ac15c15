import { createReadStream } from 'node:fs';
import { z } from 'zod';
import type { ExportOutcome, ExportRequest, PackListing } from '../evidence/index.js';
import { WaveosError } from '../core/index.js';
import { type Route, defineRoute } from './types.js';

export interface EvidenceRouteDeps {
  exportNow(req: ExportRequest): Promise<ExportOutcome>;
  list(): PackListing[];
  /** The file of a pack by name; throws not-found or bad-request. */
  packPath(name: string): string;
  publicKey: string;
  keyId: string;
}

const time = z.union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()]);

export const evidenceExportBody = z.strictObject({
  reason: z.string().min(1).max(200).optional(),
  since: time.optional(),
  until: time.optional(),
});

/** Evidence packs over the control API: export (operator), list and download (viewer). */
export function evidenceRoutes(deps: EvidenceRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/v1/evidence/export',
      action: 'evidence.export',
      role: 'operator',
      body: evidenceExportBody,
      handle: async (req) => {
        const b = req.body;
        const out = await deps.exportNow({
          reason: b.reason ?? 'on demand',
          since: b.since,
          until: b.until,
          trigger: 'manual',
          requestedBy: `operator:${req.principal.name}`,
        });
        if (!out.ok) throw new WaveosError('WAVEOS_E_RUNTIME', `the evidence export failed: ${out.error}`);
        return { kind: 'json', body: out };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/evidence',
      action: 'evidence.list',
      role: 'viewer',
      handle: () => ({ kind: 'json', body: { packs: deps.list(), public_key: deps.publicKey, key_id: deps.keyId } }),
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/evidence/:name',
      action: 'evidence.download',
      role: 'viewer',
      query: z.strictObject({ name: z.string().max(255) }),
      handle: (req) => {
        const file = deps.packPath(req.query.name);
        return {
          kind: 'bytes',
          contentType: 'application/gzip',
          headers: { 'content-disposition': `attachment; filename="${req.query.name}"` },
          chunks: createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>,
        };
      },
    }),
  ];
}
