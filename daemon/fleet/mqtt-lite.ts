import type { IClientOptions, MqttClient } from 'mqtt';

export type MqttConnect = (url: string, opts: IClientOptions) => MqttClient;

type Ctor = new (builder: (client: MqttClient) => unknown, opts: IClientOptions) => MqttClient;
type Builder = (client: MqttClient, opts: IClientOptions) => unknown;

/** A CommonJS module as Node's ESM import hands it over: module.exports as `default`, its own `default` inside. */
const cjsDefault = <T>(m: unknown): T => ((m as { default: { default?: T } }).default.default ?? (m as { default: T }).default) as T;

/**
 * mqtt.js's client with only the TCP and TLS transports. `mqtt`'s main entry also loads the WebSocket,
 * SOCKS and mini-program transports the link never uses, about 7 MB of RSS on a board; this loads the
 * client class and the two stream builders and does what `mqtt.connect` does for mqtt:// and mqtts:// URLs.
 */
export async function loadMqtt(): Promise<MqttConnect> {
  const [client, tcp, tls] = await Promise.all([import('mqtt/lib/client'), import('mqtt/lib/connect/tcp'), import('mqtt/lib/connect/tls')]);
  const MqttClientCtor = cjsDefault<Ctor>(client);
  const builders: Record<string, Builder> = { mqtt: cjsDefault<Builder>(tcp), mqtts: cjsDefault<Builder>(tls) };
  return (url, given) => {
    const u = new URL(url);
    const protocol = u.protocol.replace(/:$/, '');
    const build = builders[protocol];
    if (!build) throw new Error(`${url}: only mqtt:// and mqtts:// brokers are supported`);
    const opts: IClientOptions = { ...given, protocol: protocol as 'mqtt', hostname: u.hostname, host: u.hostname, port: Number(u.port) || (protocol === 'mqtts' ? 8883 : 1883) };
    const c = new MqttClientCtor((cl) => build(cl, opts), opts);
    // As mqtt.connect does: an error with no listener must not throw out of the event loop.
    c.on('error', () => undefined);
    return c;
  };
}
