import { createConnection, isIP } from 'node:net';
import { type SecureContext, connect as tlsConnect } from 'node:tls';
import type { IClientOptions, MqttClient } from 'mqtt';

/** The client options the link gives, plus one TLS context built once and shared by every reconnect. */
export type LinkClientOptions = IClientOptions & { secureContext?: SecureContext };
export type MqttConnect = (url: string, opts: LinkClientOptions) => MqttClient;

type Ctor = new (builder: (client: MqttClient) => unknown, opts: IClientOptions) => MqttClient;
type Opts = LinkClientOptions & { hostname: string; port: number };

/** A CommonJS module as Node's ESM import hands it over: module.exports as `default`, its own `default` inside. */
const cjsDefault = <T>(m: unknown): T => ((m as { default: { default?: T } }).default.default ?? (m as { default: T }).default) as T;

const tcpStream = (_client: MqttClient, o: Opts) => createConnection({ port: o.port, host: o.hostname });

/**
 * What mqtt.js's TLS builder does, without it: its module also loads the SOCKS proxy client (socks,
 * ip-address, smart-buffer) at import, which the link never uses. With `secureContext` the CA, certificate
 * and key are parsed once, not again for each reconnect.
 */
function tlsStream(client: MqttClient, o: Opts) {
  const socket = tlsConnect({
    host: o.hostname,
    port: o.port,
    ...(isIP(o.hostname) === 0 ? { servername: o.hostname } : {}),
    ...(o.secureContext ? { secureContext: o.secureContext } : { ca: o.ca, cert: o.cert, key: o.key }),
    rejectUnauthorized: o.rejectUnauthorized !== false,
  });
  const onError = (err: Error) => {
    if (o.rejectUnauthorized !== false) client.emit('error', err);
    socket.end();
  };
  socket.on('error', onError);
  socket.on('secureConnect', () => {
    if (o.rejectUnauthorized !== false && !socket.authorized) socket.emit('error', new Error('TLS not authorized'));
    else socket.removeListener('error', onError);
  });
  return socket;
}

const BUILDERS: Record<string, (client: MqttClient, o: Opts) => unknown> = { mqtt: tcpStream, mqtts: tlsStream };

/**
 * mqtt.js's client with only the TCP and TLS transports. `mqtt`'s main entry also loads the WebSocket,
 * SOCKS and mini-program transports the link never uses, and its TCP/TLS builder modules load the SOCKS
 * client: this loads the client class alone and does what `mqtt.connect` does for mqtt:// and mqtts:// URLs.
 */
export async function loadMqtt(): Promise<MqttConnect> {
  const MqttClientCtor = cjsDefault<Ctor>(await import('mqtt/lib/client'));
  return (url, given) => {
    const u = new URL(url);
    const protocol = u.protocol.replace(/:$/, '');
    const build = BUILDERS[protocol];
    if (!build) throw new Error(`${url}: only mqtt:// and mqtts:// brokers are supported`);
    const opts: Opts = { ...given, protocol: protocol as 'mqtt', hostname: u.hostname, host: u.hostname, port: Number(u.port) || (protocol === 'mqtts' ? 8883 : 1883) };
    const c = new MqttClientCtor((cl) => build(cl, opts), opts);
    // As mqtt.connect does: an error with no listener must not throw out of the event loop.
    c.on('error', () => undefined);
    return c;
  };
}
