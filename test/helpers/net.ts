// Sockets for the integration tests' own servers.
import { type AddressInfo, createServer } from 'node:net';

/** A loopback port nothing listens on at the moment of the call. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
