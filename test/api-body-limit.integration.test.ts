import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../daemon/api/index.js';
import { INPUT_LIMITS } from '../daemon/core/index.js';
import { DaemonProcess, removeRoot, tempRoot } from './helpers/daemon.js';

let root: string;
let d: DaemonProcess;
beforeAll(async () => {
  root = tempRoot('waveos-body-');
  d = new DaemonProcess(root);
  await d.ready();
}, 30_000);
afterAll(async () => {
  await d.kill('SIGKILL');
  removeRoot(root);
});

/**
 * Sends `head` then keeps writing `chunk` (as fast as the socket takes it) until the server answers or closes;
 * returns what the server sent and whether it closed the connection.
 */
function flood(head: string, chunk: Buffer): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(d.socket);
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      resolve({ text, closed });
    };
    const pump = (): void => {
      while (!done && !sock.destroyed && sock.write(chunk));
    };
    sock.on('connect', () => {
      sock.write(head);
      pump();
    });
    sock.on('drain', pump);
    sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => finish(true));
    // Without a close within 15 s the server would be reading forever.
    setTimeout(() => {
      sock.destroy();
      finish(false);
    }, 15_000).unref();
  });
}

function expect413(text: string): void {
  expect(text).toMatch(/^HTTP\/1\.1 413 /);
  expect(text.toLowerCase()).toContain('connection: close');
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('WAVEOS_E_BODY_TOO_LARGE');
  expect(body.error.message).toContain(String(INPUT_LIMITS.apiBody));
}

describe('request bodies over the limit are answered 413, then the connection closes', () => {
  it('a 70 KB body on /v1/mode', async () => {
    const r = await rawRequest(d.socket, { method: 'POST', path: '/v1/mode', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'safe', reason: 'x'.repeat(70_000) }) });
    expect(r.status).toBe(413);
    expect((r.body as { error: { code: string } }).error.code).toBe('WAVEOS_E_BODY_TOO_LARGE');
  });

  it('a Content-Length of 100 MB, refused before the body is read', async () => {
    const r = await flood('POST /v1/mode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n', Buffer.alloc(64 * 1024, 0x61));
    expect413(r.text);
    expect(r.closed).toBe(true);
  });

  it('a chunked body without end, refused once it grows past the limit', async () => {
    const chunk = Buffer.from(`4000\r\n${'a'.repeat(0x4000)}\r\n`);
    const r = await flood('POST /v1/mode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', chunk);
    expect413(r.text);
    expect(r.closed).toBe(true);
  });

  it('the daemon still answers afterwards', async () => {
    expect((await rawRequest(d.socket, { method: 'GET', path: '/v1/status' })).status).toBe(200);
  });
});
