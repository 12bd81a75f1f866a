// The outputs as the service and the CLI build them from the configuration (config `outputs`):
// one MqttOutput per broker, one WebhookOutput per URL, each behind its own outbox when the
// dispatcher (outputs.ts) runs them. `facegate outputs test` builds the same outputs and sends
// each a test message directly.
import type { Logger } from '../../storage/index.js';
import { MqttOutput } from './mqtt-output.js';
import type { Output } from './output.js';
import { WebhookOutput } from './webhook-output.js';

/** The configuration's `outputs` section, as much of it as building the outputs needs. */
export interface OutputsSpec {
  nodeId: string;
  mqtt: {
    name: string;
    url: string;
    username?: string | undefined;
    password?: string | undefined;
    clientId?: string | undefined;
    topicPrefix: string;
    tls?:
      | { ca?: string | undefined; cert?: string | undefined; key?: string | undefined; rejectUnauthorized: boolean }
      | undefined;
    homeAssistant: { enabled: boolean; discoveryPrefix: string };
    timeoutMs: number;
  }[];
  webhooks: {
    name: string;
    url: string;
    secret: string;
    timeoutMs: number;
    headers?: Record<string, string> | undefined;
  }[];
}

/** Every configured output, in the configuration's order (MQTT brokers, then webhooks). */
/**
 * `probe`: for `facegate outputs test` beside a running serve (MQTT: its own client id, no last
 * will, availability or discovery; mqtt-output.ts).
 */
export function createOutputs(
  spec: OutputsSpec,
  cameras: string[],
  logger: Logger,
  options: { probe?: boolean } = {},
): Output[] {
  return [
    ...spec.mqtt.map(
      (m) =>
        new MqttOutput({
          name: m.name,
          url: m.url,
          ...(m.username !== undefined ? { username: m.username } : {}),
          ...(m.password !== undefined ? { password: m.password } : {}),
          ...(m.clientId !== undefined ? { clientId: m.clientId } : {}),
          topicPrefix: m.topicPrefix,
          nodeId: spec.nodeId,
          ...(m.tls
            ? {
                tls: {
                  rejectUnauthorized: m.tls.rejectUnauthorized,
                  ...(m.tls.ca !== undefined ? { ca: m.tls.ca } : {}),
                  ...(m.tls.cert !== undefined ? { cert: m.tls.cert } : {}),
                  ...(m.tls.key !== undefined ? { key: m.tls.key } : {}),
                },
              }
            : {}),
          homeAssistant: m.homeAssistant,
          cameras,
          timeoutMs: m.timeoutMs,
          ...(options.probe ? { probe: true } : {}),
          logger,
        }),
    ),
    ...spec.webhooks.map(
      (w) =>
        new WebhookOutput({
          name: w.name,
          url: w.url,
          secret: w.secret,
          timeoutMs: w.timeoutMs,
          ...(w.headers ? { headers: w.headers } : {}),
          logger,
        }),
    ),
  ];
}
