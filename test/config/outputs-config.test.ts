// The configuration's `outputs` section (issue 17): what it accepts, what it refuses and how, and
// that its secrets (broker passwords, webhook secrets and headers, credentials in URLs) never
// appear in a printed configuration or an error.
import { describe, expect, it } from 'vitest';

import { ConfigError, parseConfig, redactConfig } from '../../src/config/config.js';

const SECRET = 'WebhookS3cretValue!';
const PASSWORD = 'BrokerPw9';

function refusal(outputs: unknown): string {
  try {
    parseConfig({ outputs }, { source: 'site.yaml' });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('config outputs', () => {
  it('defaults to no outputs, node id "facegate", a 10,000-message outbox', () => {
    const { outputs } = parseConfig({});
    expect(outputs).toMatchObject({ nodeId: 'facegate', maxMessages: 10_000, mqtt: [], webhooks: [] });
    expect(outputs.publicUrl).toBeUndefined();
  });

  it("fills an MQTT broker's defaults: topic prefix, Home Assistant discovery on, a 5 s delivery timeout", () => {
    const { outputs } = parseConfig({ outputs: { mqtt: [{ name: 'site', url: 'mqtt://10.0.0.2:1883' }] } });
    expect(outputs.mqtt[0]).toEqual({
      name: 'site',
      url: 'mqtt://10.0.0.2:1883',
      topicPrefix: 'facegate',
      homeAssistant: { enabled: true, discoveryPrefix: 'homeassistant' },
      timeoutMs: 5_000,
    });
  });

  it('refuses what would break a topic, a folder name or a signature, saying what it expected', () => {
    expect(refusal({ mqtt: [{ name: 'a', url: 'http://broker' }] })).toMatch(
      /outputs\.mqtt\.0\.url: expected mqtt:\/\/host:port/,
    );
    expect(refusal({ mqtt: [{ name: 'a', url: 'mqtt://b', topicPrefix: 'site/#' }] })).toMatch(
      /topicPrefix: expected non-empty topic levels/,
    );
    expect(refusal({ mqtt: [{ name: 'a', url: 'mqtt://b', topicPrefix: '/site' }] })).toMatch(/topicPrefix/);
    expect(refusal({ mqtt: [{ name: 'CON', url: 'mqtt://b' }] })).toMatch(
      /name: Expected an output id .* reserved name on Windows/,
    );
    expect(refusal({ mqtt: [{ name: 'a:b', url: 'mqtt://b' }] })).toMatch(/outputs\.mqtt\.0\.name/);
    expect(refusal({ webhooks: [{ name: 'w', url: 'https://x/hook', secret: 'short' }] })).toMatch(
      /secret: expected a secret of at least 16 characters \(received a hidden value\)/,
    );
    expect(refusal({ webhooks: [{ name: 'w', url: 'ftp://x', secret: SECRET }] })).toMatch(/url: expected an http/);
    expect(
      refusal({
        webhooks: [{ name: 'w', url: 'https://x', secret: SECRET, headers: { 'X-Key': 'a\r\nInjected: 1' } }],
      }),
    ).toMatch(/headers\.X-Key: expected one line/);
    expect(
      refusal({
        mqtt: [{ name: 'Site', url: 'mqtt://b' }],
        webhooks: [{ name: 'site', url: 'https://x', secret: SECRET }],
      }),
    ).toMatch(/expected distinct output names/);
    expect(refusal({ nodeId: 'my appliance' })).toMatch(/nodeId: expected 1-64 letters/);
    // A camera id storage accepts but a topic level and Home Assistant do not, once MQTT is on.
    const cameras = [{ id: 'gate.1', url: 'rtsp://cam/1' }];
    expect(() => parseConfig({ cameras })).not.toThrow();
    expect(() => parseConfig({ cameras, outputs: { mqtt: [{ name: 'site', url: 'mqtt://b' }] } })).toThrow(
      /cameras\.0\.id: Expected a camera id of letters, digits, _ or - with an MQTT output .* but received "gate\.1"/,
    );
    expect(refusal({ maxMessages: 5 })).toMatch(/maxMessages/);
  });

  it('never prints a secret: config check, and the refusal of a bad section', () => {
    const config = parseConfig({
      outputs: {
        mqtt: [{ name: 'site', url: `mqtts://ha:${PASSWORD}@broker:8883`, username: 'ha', password: PASSWORD }],
        webhooks: [
          {
            name: 'alarm',
            url: `https://hooks.example/x?token=${PASSWORD}`,
            secret: SECRET,
            headers: { 'X-Api-Key': SECRET },
          },
        ],
      },
    });
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toContain(SECRET);
    expect(printed).not.toContain(PASSWORD);
    expect(printed).toContain('"X-Api-Key":"***"');
    // The unredacted config still holds them, for the outputs themselves.
    expect(config.outputs.webhooks[0]?.secret).toBe(SECRET);
    const error = refusal({ webhooks: [{ name: 'w', url: `https://u:${PASSWORD}@x`, secret: SECRET, timeoutMs: 1 }] });
    expect(error).toMatch(/timeoutMs/);
    expect(error).not.toContain(PASSWORD);
    expect(error).not.toContain(SECRET);
  });
});
