import { chmodSync, chownSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';

/** Who may write a socket besides the daemon: its owner and group are set to these when given. */
export interface SocketOwner {
  uid?: number;
  gid?: number;
}

/**
 * A unix stream server on `path` with `mode`, owned by `owner` when one is given. A socket file left by a
 * previous run is replaced. Until the mode is set the file has the umask's mode (0755 under the usual 022),
 * which lets no other user connect, so the short window between bind and chmod opens nothing.
 */
export async function listenUnix(path: string, mode: number, owner: SocketOwner | undefined, onConnection: (sock: Socket) => void): Promise<Server> {
  removeSocketFile(path);
  const server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    chmodSync(path, mode);
    setSocketOwner(path, owner);
  } catch (e) {
    await closeServer(server, path);
    throw e;
  }
  return server;
}

/** The file goes first, so no new writer finds it; connections still open may finish before the close resolves. */
export async function closeServer(server: Server, path: string): Promise<void> {
  removeSocketFile(path);
  await new Promise<void>((r) => server.close(() => r()));
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // none there
  }
}

/** Gives the socket to `owner` when the daemon runs as root (only root may give a file away). */
export function setSocketOwner(path: string, owner: SocketOwner | undefined): void {
  if (!owner || (owner.uid === undefined && owner.gid === undefined) || process.getuid?.() !== 0) return;
  chownSync(path, owner.uid ?? -1, owner.gid ?? -1);
}
