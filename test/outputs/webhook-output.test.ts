// The webhook output against real HTTP receivers on 127.0.0.1: every request they get is checked
// with verifySignature, as a receiver would; what each kind of answer makes deliver() do
// (resolve, retryable Error, PermanentDeliveryError); redirects not followed; replays detectable;
// no secret in any error.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import type { TestMessage } from '../../src/outputs/message.js';
import { PermanentDeliveryError } from '../../src/outputs/output.js';
import { verifySignature } from '../../src/outputs/signature.js';
import { WebhookOutput, type WebhookOutputOptions } from '../../src/outputs/webhook-output.js';
import { silentLogger } from '../../storage/logger.js';

const SECRET = 'a-shared-secret-0123456789';
const API_KEY = 'receiver-api-key-98765';

interface Received {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  verified: ReturnType<typeof verifySignature>;
}

/** How the receiver answers one request: a status (and headers, body), or never. */
type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

interface Receiver {
  url: string;
  received: Received[];
  answer: (request: Received) => Answer;
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
const outputs: WebhookOutput[] = [];

async function startReceiver(answer: Receiver['answer'] = () => ({ status: 200 })): Promise<Receiver> {
  const receiver: Receiver = { url: '', received: [], answer, close: () => Promise.resolve() };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const verified = verifySignature({ secret: SECRET, body, headers: request.headers, nowMs: Date.now() });
      const got: Received = { url: request.url ?? '', headers: request.headers, body, verified };
      receiver.received.push(got);
      const reply = receiver.answer(got);
      if (reply === 'hang') return;
      response.writeHead(reply.status, reply.headers);
      response.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  receivers.push(receiver);
  return receiver;
}

function webhook(options: Partial<WebhookOutputOptions> & { url: string }): WebhookOutput {
  const output = new WebhookOutput({ name: 'hook', secret: SECRET, timeoutMs: 2000, logger: silentLogger, ...options });
  outputs.push(output);
  return output;
}

let counter = 0;
function message(): TestMessage {
  counter += 1;
  return {
    type: 'test',
    id: `0190a7d2-7c3e-7b4a-9d6e-${String(counter).padStart(12, '0')}`,
    timestamp: new Date().toISOString(),
    text: 'hello',
  };
}

/** The error deliver() rejected with, checked to hold no secret. */
async function failure(output: WebhookOutput, sent = message()): Promise<Error> {
  const error = await output.deliver(sent).then(
    () => {
      throw new Error('Expected deliver() to reject but it resolved');
    },
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(Error);
  for (const secret of [SECRET, API_KEY]) expect(`${error.message} ${error.stack}`).not.toContain(secret);
  return error;
}

afterEach(async () => {
  await Promise.all(outputs.splice(0).map((o) => o.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('WebhookOutput delivery', () => {
  it('POSTs the message as signed JSON and resolves on a 2xx', async () => {
    const receiver = await startReceiver(() => ({ status: 204 }));
    const output = webhook({ url: `${receiver.url}/hook`, headers: { 'X-Api-Key': API_KEY } });
    expect(output.kind).toBe('webhook');
    expect(output.connected()).toBeNull();
    await output.start();
    const sent = message();
    await output.deliver(sent);

    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.received;
    expect(got!.verified).toEqual({ ok: true, id: sent.id });
    expect(got!.url).toBe('/hook');
    expect(JSON.parse(got!.body)).toEqual(sent);
    expect(got!.headers['x-facegate-id']).toBe(sent.id);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['user-agent']).toBe('facegate');
    expect(got!.headers['x-api-key']).toBe(API_KEY);
  });

  it('delivers several messages over one output, each signed with its own id', async () => {
    const receiver = await startReceiver();
    const output = webhook({ url: receiver.url });
    const sent = [message(), message(), message()];
    for (const m of sent) await output.deliver(m);
    expect(receiver.received.map((r) => r.verified)).toEqual(sent.map((m) => ({ ok: true, id: m.id })));
  });

  it('sends user:password@ in the url as Basic authorization', async () => {
    const receiver = await startReceiver();
    await webhook({ url: `http://facegate:p%40ss-word@${receiver.url.slice('http://'.length)}/in` }).deliver(message());
    expect(receiver.received[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('facegate:p@ss-word').toString('base64')}`,
    );
    expect(receiver.received[0]!.verified.ok).toBe(true);
  });
});

describe('WebhookOutput failures', () => {
  it('a 500 throws a retryable Error saying what was expected and received', async () => {
    const receiver = await startReceiver(() => ({ status: 500, body: 'database down' }));
    const error = await failure(webhook({ url: `${receiver.url}/hook` }));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toBe(
      `Expected a 2xx from ${receiver.url}/hook but received 500 Internal Server Error: "database down"`,
    );
    expect(receiver.received[0]!.verified.ok).toBe(true);
  });

  it('408, 429, 5xx and a refused sender or place (401, 403, 404, 410) are retryable; 400, 413, 415 and 422 are permanent', async () => {
    let status = 0;
    const receiver = await startReceiver(() => ({ status }));
    const output = webhook({ url: receiver.url });
    for (status of [408, 429, 502, 503, 401, 403, 404, 410]) {
      const error = await failure(output);
      expect(error, String(status)).not.toBeInstanceOf(PermanentDeliveryError);
      expect(error.message).toContain(`but received ${status}`);
    }
    for (status of [400, 413, 415, 422]) {
      const error = await failure(output);
      expect(error, String(status)).toBeInstanceOf(PermanentDeliveryError);
      expect(error.message).toContain(`but received ${status}`);
    }
  });

  it('a receiver that never answers throws after timeoutMs', async () => {
    const receiver = await startReceiver(() => 'hang');
    const output = webhook({ url: receiver.url, timeoutMs: 300 });
    const started = Date.now();
    const error = await failure(output);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toBe(`Expected a 2xx from ${receiver.url}/ but received no answer within 300 ms`);
    // The request did arrive, signed: the receiver may have handled it, and the retry repeats its id.
    expect(receiver.received[0]!.verified.ok).toBe(true);
  });

  it('a refused connection throws a retryable Error naming the cause', async () => {
    const receiver = await startReceiver();
    const url = receiver.url;
    await receiver.close();
    const error = await failure(webhook({ url }));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toMatch(
      /^Expected a 2xx from http:\/\/127\.0\.0\.1:\d+\/ but received no answer: .*ECONNREFUSED/,
    );
  });

  it('does not follow a redirect: a 302 is a permanent failure and the other place gets nothing', async () => {
    const elsewhere = await startReceiver();
    const receiver = await startReceiver(() => ({
      status: 302,
      headers: { location: `${elsewhere.url}/stolen?token=abc123` },
    }));
    const error = await failure(webhook({ url: `${receiver.url}/hook` }));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toBe(
      `Expected a 2xx from ${receiver.url}/hook but received 302 Found (a redirect to Location "${elsewhere.url}/stolen?***"); ` +
        'redirects are not followed (the signed body goes only to the configured url): set url to where the receiver is',
    );
    expect(receiver.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
  });

  it('close() ends a request in flight and later deliveries fail', async () => {
    const receiver = await startReceiver(() => 'hang');
    const output = webhook({ url: receiver.url, timeoutMs: 60_000 });
    const pending = failure(output);
    while (receiver.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await output.close();
    expect((await pending).message).toContain('closed');
    expect((await failure(output)).message).toContain('closed');
  });
});

describe('WebhookOutput replays', () => {
  it('a replayed request verifies within the tolerance but repeats its id, and is refused once older', async () => {
    const seen = new Set<string>();
    const duplicates: string[] = [];
    const receiver = await startReceiver((got) => {
      if (!got.verified.ok) return { status: 401 };
      if (seen.has(got.verified.id)) duplicates.push(got.verified.id);
      seen.add(got.verified.id);
      return { status: 200 };
    });
    const sent = message();
    await webhook({ url: receiver.url }).deliver(sent);
    const original = receiver.received[0]!;

    // Someone who saw the request sends it again, byte for byte.
    const replay = await new Promise<number>((resolve, reject) => {
      const headers = Object.fromEntries(
        Object.entries(original.headers).filter(([name]) => name !== 'connection' && name !== 'host'),
      ) as http.OutgoingHttpHeaders;
      const request = http.request(receiver.url, { method: 'POST', headers }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end(original.body);
    });
    expect(replay).toBe(200);
    expect(receiver.received[1]!.verified).toEqual({ ok: true, id: sent.id });
    expect(duplicates).toEqual([sent.id]);

    // The same request five minutes and a second later: the timestamp gives it away.
    const later = verifySignature({
      secret: SECRET,
      body: original.body,
      headers: original.headers,
      nowMs: Number(original.headers['x-facegate-timestamp']) * 1000 + 301_000,
    });
    expect(later).toEqual({ ok: false, reason: expect.stringContaining('301 s in the past') as unknown });
  });
});

describe('WebhookOutput secrets', () => {
  it('no error holds the secret, the API key or credentials in the url, even when the receiver echoes them', async () => {
    const receiver = await startReceiver((got) => ({
      status: 400,
      body: `bad request: ${JSON.stringify(got.headers)} ${got.body}`,
    }));
    const password = 'url-password-1234';
    const url = `http://hookuser:${password}@${receiver.url.slice('http://'.length)}/in?token=query-token-1&code=query-code-2`;
    const output = webhook({ url, headers: { 'X-Api-Key': API_KEY } });
    const error = await failure(output);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toMatch(
      /^Expected a 2xx from http:\/\/\*\*\*@127\.0\.0\.1:\d+\/in\?\*\*\* but received 400 Bad Request: "bad request: /,
    );
    const basic = Buffer.from(`hookuser:${password}`).toString('base64');
    for (const secret of [password, 'query-token-1', 'query-code-2', basic])
      expect(error.message).not.toContain(secret);
    // The request itself carried them all.
    expect(receiver.received[0]!.headers['x-api-key']).toBe(API_KEY);
    expect(receiver.received[0]!.url).toBe('/in?token=query-token-1&code=query-code-2');
  });

  it('refuses bad options at construction, saying what was expected and what was received', () => {
    const make = (options: Partial<WebhookOutputOptions>) => () =>
      new WebhookOutput({
        name: 'hook',
        url: 'https://example.test/hook',
        secret: SECRET,
        timeoutMs: 5000,
        logger: silentLogger,
        ...options,
      });
    const cases: [Partial<WebhookOutputOptions>, string][] = [
      [
        { url: 'ftp://example.test/x' },
        'Expected url to be an http:// or https:// URL but received "ftp://example.test/x"',
      ],
      [{ url: 'not a url' }, 'Expected url to be an http:// or https:// URL but received "not a url"'],
      [{ url: 'ftp://u:pw-secret@example.test/x' }, 'but received "ftp://***@example.test/x"'],
      [{ secret: 'short-secret' }, 'Expected secret to be at least 16 characters but received 12'],
      [
        { timeoutMs: 0 },
        'Expected timeoutMs to be a positive whole number of milliseconds but received 0 of type number',
      ],
      [
        { headers: { 'X-Api-Key': `${API_KEY}\r\nX-Injected: 1` } },
        'Expected header X-Api-Key to be one line of printable characters but received a value with a line break (CR or LF)',
      ],
      [{ headers: { 'X-Api-Key': `${API_KEY}\n` } }, 'but received a value with a line break (CR or LF)'],
      [{ headers: { 'Bad Name': 'x' } }, 'Expected a header name of letters, digits and'],
      [
        { headers: { 'x-facegate-signature': 'v1=00' } },
        'Expected a header other than those facegate sets itself but received "x-facegate-signature"',
      ],
      [
        { headers: { 'Content-Type': 'text/plain' } },
        'Expected a header other than those facegate sets itself but received "Content-Type"',
      ],
      [
        { url: 'https://u:p@example.test/', headers: { Authorization: 'Bearer x' } },
        'Expected either user:password@ in url or an Authorization header but received both',
      ],
    ];
    for (const [options, expected] of cases) {
      expect(make(options), JSON.stringify(options)).toThrow(expected);
      try {
        make(options)();
      } catch (e) {
        for (const secret of [SECRET, API_KEY, 'short-secret', 'pw-secret'])
          expect((e as Error).message).not.toContain(secret);
      }
    }
    expect(make({ url: 'http://127.0.0.1:6000/x', headers: { 'X-Api-Key': API_KEY } })).not.toThrow();
  });
});
