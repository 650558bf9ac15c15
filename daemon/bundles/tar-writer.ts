import { open } from 'node:fs/promises';
import { Header, type HeaderData, Pax } from 'tar';

/** One member of a tar written by `writeTar`; the low-level form lets tests craft hostile archives too. */
export type TarEntry =
  | { type: 'File'; path: string; mode?: number; bytes: Uint8Array }
  | { type: 'File'; path: string; mode?: number; file: string; size: number }
  | { type: 'Directory'; path: string; mode?: number }
  | { type: 'SymbolicLink' | 'Link'; path: string; linkpath: string }
  | { type: 'CharacterDevice' | 'BlockDevice' | 'FIFO'; path: string; devmaj?: number; devmin?: number };

const EPOCH = new Date(0);
const CHUNK = 1024 * 1024;

function headerBlocks(h: HeaderData): Buffer[] {
  const header = new Header({ uid: 0, gid: 0, mtime: EPOCH, ...h });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  if (!header.needPax) return [block];
  const pax = new Pax({ path: h.path, linkpath: h.linkpath, mtime: EPOCH }, false);
  return [pax.encode(), block];
}

/**
 * Streams a deterministic ustar/pax archive to `out` (uid/gid 0, mtime 0), reading file members from disk
 * in 1 MiB chunks so that a payload of any size needs no more memory than that.
 */
export async function writeTar(out: string, entries: Iterable<TarEntry>, mode = 0o644): Promise<void> {
  const fh = await open(out, 'w', mode);
  try {
    const put = async (b: Uint8Array): Promise<void> => {
      let off = 0;
      while (off < b.length) off += (await fh.write(b, off, b.length - off)).bytesWritten;
    };
    for (const e of entries) {
      switch (e.type) {
        case 'File': {
          const size = 'bytes' in e ? e.bytes.length : e.size;
          for (const b of headerBlocks({ path: e.path, mode: e.mode ?? 0o644, size, type: 'File' })) await put(b);
          if ('bytes' in e) await put(e.bytes);
          else {
            const src = await open(e.file, 'r');
            try {
              const buf = Buffer.allocUnsafe(CHUNK);
              let left = size;
              while (left > 0) {
                const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK, left), null);
                if (bytesRead === 0) throw new Error(`${e.file} shrank while it was being archived`);
                await put(buf.subarray(0, bytesRead));
                left -= bytesRead;
              }
            } finally {
              await src.close();
            }
          }
          const pad = (512 - (size % 512)) % 512;
          if (pad) await put(Buffer.alloc(pad));
          break;
        }
        case 'Directory':
          for (const b of headerBlocks({ path: e.path.endsWith('/') ? e.path : `${e.path}/`, mode: e.mode ?? 0o755, size: 0, type: 'Directory' })) await put(b);
          break;
        case 'SymbolicLink':
        case 'Link':
          for (const b of headerBlocks({ path: e.path, linkpath: e.linkpath, mode: 0o777, size: 0, type: e.type })) await put(b);
          break;
        case 'CharacterDevice':
        case 'BlockDevice':
        case 'FIFO':
          for (const b of headerBlocks({ path: e.path, mode: 0o644, size: 0, type: e.type, devmaj: e.devmaj ?? 0, devmin: e.devmin ?? 0 })) await put(b);
      }
    }
    await put(Buffer.alloc(1024));
    await fh.sync();
  } finally {
    await fh.close();
  }
}
