// The MQTT output: publishes each message to a broker (Mosquitto, Home Assistant's add-on, EMQX)
// over one standing connection, and announces the cameras to Home Assistant (home-assistant.ts).
//
// Topics under topicPrefix (QoS 1 throughout; payload JSON.stringify(message)):
//   <prefix>/<camera>/recognition  every recognition, not retained
//   <prefix>/<camera>/access       the same message again when it carries an access verdict
//   <prefix>/<camera>/status       camera online/offline, retained (a new subscriber sees the state)
//   <prefix>/test                  `facegate outputs test`
//   <prefix>/availability          'online' (retained) on every connect, 'offline' as the last will
//                                  and on close()
//
// Durability is the outbox's job (outbox.ts), not mqtt.js's: deliver() refuses at once while the
// client is not connected instead of letting mqtt.js keep the publish in its in-memory store, and
// resolves only when every topic's PUBACK came back, so the dispatcher removes a message from the
// outbox only once the broker has it. A publish in flight when the connection drops stays in
// mqtt.js's store and is sent again after the reconnect while the dispatcher also retries it: a
// duplicate, which receivers drop by the message id (message.ts).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

import type { Logger } from '../../storage/index.js';
import { redactCredentials, redactUrl } from '../../storage/redact.js';
import {
  AVAILABILITY_OFFLINE,
  AVAILABILITY_ONLINE,
  DEFAULT_DISCOVERY_PREFIX,
  discoveryMessages,
  topics,
} from './home-assistant.js';
import type { OutputMessage } from './message.js';
import type { Output } from './output.js';

export interface MqttTlsOptions {
  /** PEM file paths, read at start(). */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

export interface MqttOutputOptions {
  name: string;
  /** mqtt://host:port or mqtts://host:port (TLS). */
  url: string;
  username?: string;
  password?: string;
  /** Default `facegate-${nodeId}-${name}`. */
  clientId?: string;
  /** e.g. 'facegate'. */
  topicPrefix: string;
  /** The appliance's id, for the availability topic and Home Assistant's unique ids (e.g. 'facegate'). */
  nodeId: string;
  tls?: MqttTlsOptions;
  homeAssistant: { enabled: boolean; discoveryPrefix?: string };
  /** Camera ids: the Home Assistant devices to announce. */
  cameras: string[];
  /** How long deliver() waits for the PUBACKs before throwing. */
  timeoutMs: number;
  /**
   * A one-off probe (`facegate outputs test`) beside a running serve: its own client id (the same
   * id would make the broker drop serve's connection), and no last will, availability or discovery
   * (its goodbye would mark serve's entities unavailable).
   */
  probe?: boolean;
  logger: Logger;
}

/** mqtt.js retries this often while the broker is away (the dispatcher's retries wait on it). */
const RECONNECT_PERIOD_MS = 1_000;
/** A connect attempt (TCP, TLS, CONNACK) that takes longer than this is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Letters, digits, '_' and '-': what Home Assistant takes in a node_id and object_id, and safe in a topic. */
const ID = /^[A-Za-z0-9_-]+$/;
/** A topic prefix: non-empty levels, no wildcards. */
export const TOPIC_PREFIX = /^[^/+#]+(\/[^/+#]+)*$/;

function checkOptions(options: MqttOutputOptions): void {
  const fail = (what: string, received: string): never => {
    throw new Error(`Expected ${what} for MQTT output ${JSON.stringify(options.name)} but received ${received}`);
  };
  if (typeof options.name !== 'string' || options.name.length === 0)
    fail('a non-empty name', JSON.stringify(options.name));
  let url: URL | undefined;
  try {
    url = new URL(options.url);
  } catch {
    // Reported below, redacted.
  }
  const shown = JSON.stringify(redactUrl(String(options.url)));
  if (url === undefined) fail('an mqtt:// or mqtts:// URL', shown);
  else {
    if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') fail('an mqtt:// or mqtts:// URL', shown);
    if (url.hostname === '') fail('a URL with a host', shown);
    if (options.tls !== undefined && url.protocol !== 'mqtts:') fail('an mqtts:// URL with tls options', shown);
  }
  if (typeof options.topicPrefix !== 'string' || !TOPIC_PREFIX.test(options.topicPrefix)) {
    fail(
      "a topic prefix of non-empty levels without '+', '#' or a leading or trailing '/'",
      JSON.stringify(options.topicPrefix),
    );
  }
  if (typeof options.nodeId !== 'string' || !ID.test(options.nodeId)) {
    fail('a nodeId of letters, digits, _ and -', JSON.stringify(options.nodeId));
  }
  for (const camera of options.cameras) {
    if (typeof camera !== 'string' || !ID.test(camera))
      fail('camera ids of letters, digits, _ and -', JSON.stringify(camera));
  }
  const discoveryPrefix = options.homeAssistant.discoveryPrefix ?? DEFAULT_DISCOVERY_PREFIX;
  if (!TOPIC_PREFIX.test(discoveryPrefix)) {
    fail("a discovery prefix of non-empty levels without '+' or '#'", JSON.stringify(discoveryPrefix));
  }
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
    fail('a positive timeoutMs', String(options.timeoutMs));
  }
}

/** Rejects with `message` when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function readPem(what: string, file: string | undefined): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(
      `Expected a readable PEM file for the MQTT ${what} but received ${JSON.stringify(file)} (${(error as Error).message})`,
      { cause: error },
    );
  }
}

export class MqttOutput implements Output {
  readonly kind = 'mqtt' as const;
  readonly name: string;
  private readonly options: MqttOutputOptions;
  private readonly shownUrl: string;
  private readonly availabilityTopic: string;
  private client: MqttClient | undefined;
  /** The last connection state logged: a change is logged once, not every retry. */
  private up = false;
  /** The last connection error logged while down, so each retry's repeat is not. */
  private lastError: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: MqttOutputOptions) {
    checkOptions(options);
    this.options = options;
    this.name = options.name;
    this.shownUrl = redactUrl(options.url);
    this.availabilityTopic = topics.availability(options.topicPrefix);
  }

  get clientId(): string {
    const id = this.options.clientId ?? `facegate-${this.options.nodeId}-${this.options.name}`;
    return this.options.probe ? `${id}-test-${this.probeSuffix}` : id;
  }

  private readonly probeSuffix = randomBytes(4).toString('hex');

  async start(): Promise<void> {
    if (this.client) return;
    const { tls, username, password } = this.options;
    const clientOptions: IClientOptions = {
      clientId: this.clientId,
      // The outbox keeps what is undelivered; a broker-side session would only hold it twice.
      clean: true,
      reconnectPeriod: RECONNECT_PERIOD_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(this.options.probe
        ? {}
        : {
            will: { topic: this.availabilityTopic, payload: Buffer.from(AVAILABILITY_OFFLINE), qos: 1, retain: true },
          }),
    };
    if (tls) {
      const [ca, cert, key] = await Promise.all([
        readPem('tls.ca', tls.ca),
        readPem('tls.cert', tls.cert),
        readPem('tls.key', tls.key),
      ]);
      Object.assign(clientOptions, {
        rejectUnauthorized: tls.rejectUnauthorized,
        ...(ca ? { ca } : {}),
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
      });
    }
    const client = mqtt.connect(this.options.url, clientOptions);
    this.client = client;
    const logger = this.options.logger;
    const fields = { output: this.name, url: this.shownUrl };
    client.on('connect', () => {
      if (!this.up) logger.info(fields, 'mqtt: connected');
      this.up = true;
      this.lastError = undefined;
      if (!this.options.probe) void this.announce(client);
    });
    client.on('close', () => {
      if (this.up && this.closing === undefined) logger.warn(fields, 'mqtt: connection lost; reconnecting');
      this.up = false;
    });
    // Without a listener an 'error' would crash the process; a refused connect repeats every
    // second, so only a new reason is logged.
    client.on('error', (error) => {
      const reason = redactCredentials(error.message);
      if (reason === this.lastError) return;
      this.lastError = reason;
      logger.warn({ ...fields, reason }, 'mqtt: connection error');
    });
  }

  /** On every connect: availability 'online' and, when enabled, the Home Assistant discovery configs. */
  private async announce(client: MqttClient): Promise<void> {
    const { topicPrefix, nodeId, cameras, homeAssistant, timeoutMs } = this.options;
    const publishes = [client.publishAsync(this.availabilityTopic, AVAILABILITY_ONLINE, { qos: 1, retain: true })];
    if (homeAssistant.enabled) {
      const discoveryPrefix = homeAssistant.discoveryPrefix ?? DEFAULT_DISCOVERY_PREFIX;
      for (const { topic, config } of discoveryMessages({ topicPrefix, nodeId, discoveryPrefix, cameras })) {
        publishes.push(client.publishAsync(topic, JSON.stringify(config), { qos: 1, retain: true }));
      }
    }
    try {
      await within(Promise.all(publishes), timeoutMs, `no PUBACK within ${timeoutMs} ms`);
    } catch (error) {
      // The next connect announces again.
      this.options.logger.warn(
        { output: this.name, url: this.shownUrl, reason: redactCredentials((error as Error).message) },
        'mqtt: announcing availability and discovery failed',
      );
    }
  }

  /** The topics one message goes to, and whether each is retained. */
  private topicsFor(message: OutputMessage): { topic: string; retain: boolean }[] {
    const prefix = this.options.topicPrefix;
    switch (message.type) {
      case 'recognition': {
        const sent = [{ topic: topics.recognition(prefix, message.cameraId), retain: false }];
        if (message.access !== null) sent.push({ topic: topics.access(prefix, message.cameraId), retain: false });
        return sent;
      }
      case 'status':
        return [{ topic: topics.status(prefix, message.cameraId), retain: true }];
      case 'test':
        return [{ topic: topics.test(prefix), retain: false }];
    }
  }

  async deliver(message: OutputMessage): Promise<void> {
    const client = this.client;
    if (!client || !client.connected || this.closing !== undefined) {
      // Why, when the connection failed (a refused login, a certificate that does not verify): what
      // /health and the dispatcher's log line show, so a person need not dig for the first warn line.
      const why = this.closing === undefined && this.lastError !== undefined ? ` (${this.lastError})` : '';
      throw new Error(`MQTT output ${JSON.stringify(this.name)}: not connected to ${this.shownUrl}${why}`);
    }
    const payload = JSON.stringify(message);
    const publishes = this.topicsFor(message).map(({ topic, retain }) =>
      client.publishAsync(topic, payload, { qos: 1, retain }),
    );
    const { timeoutMs } = this.options;
    await within(
      Promise.all(publishes),
      timeoutMs,
      `MQTT output ${JSON.stringify(this.name)}: no PUBACK from ${this.shownUrl} within ${timeoutMs} ms`,
    );
  }

  connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Publishes availability 'offline' (when connected), then disconnects cleanly. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const client = this.client;
      if (!client) return;
      const { timeoutMs, logger } = this.options;
      if (client.connected) {
        try {
          if (!this.options.probe)
            await within(
              client.publishAsync(this.availabilityTopic, AVAILABILITY_OFFLINE, { qos: 1, retain: true }),
              timeoutMs,
              `no PUBACK within ${timeoutMs} ms`,
            );
          await within(client.endAsync(), timeoutMs, `no clean disconnect within ${timeoutMs} ms`);
          logger.info({ output: this.name, url: this.shownUrl }, 'mqtt: closed');
          return;
        } catch (error) {
          logger.warn(
            { output: this.name, url: this.shownUrl, reason: redactCredentials((error as Error).message) },
            'mqtt: clean close failed; the broker publishes the last will',
          );
        }
      }
      // Not connected (or the clean close failed): stop reconnecting and drop the socket.
      await client.endAsync(true);
    })();
    return this.closing;
  }
}
