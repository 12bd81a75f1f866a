// The webhook output: each message POSTed as JSON to one configured URL, signed (signature.ts) so
// the receiver can check where it came from and drop replays. A 2xx is the acknowledgement. The
// dispatcher (outputs.ts) retries what throws a plain Error (408, 429, 5xx, no connection, no
// answer in time) and dead-letters a PermanentDeliveryError (any other 4xx, and any 3xx).
//
// Redirects are never followed: the body is signed for this receiver, and a redirect elsewhere
// (a moved endpoint, a captive portal, a hijacked DNS name) would hand it to whoever answers
// there. A 3xx is a configuration problem for a person to fix: permanent.
//
// node:http(s), not Node's fetch: fetch refuses URLs with user:password@ (and its message quotes
// the URL, credentials and all), refuses the fetch standard's "bad ports" (6000, 6665-6669,
// 10080, ...) that a receiver may well listen on, and keeps its connections in a process-wide pool
// that close() cannot end. Here the output owns its agent, and the timer covers the whole request.
//
// No error or log line holds the secret, the extra headers' values (an API key), or credentials in
// the URL: the URL is shown through redactUrl with its query left out (see describeUrl).
import http from 'node:http';
import https from 'node:https';

import { describeTyped, quoteReceived } from '../../storage/checks.js';
import type { Logger } from '../../storage/index.js';
import { REDACTED, redactCredentials, redactUrl } from '../../storage/redact.js';

import type { OutputMessage } from './message.js';
import { type Output, PermanentDeliveryError } from './output.js';
import { signatureHeaders } from './signature.js';

export interface WebhookOutputOptions {
  name: string;
  /** http:// or https://; user:password@ in it is sent as Basic authorization. */
  url: string;
  /** The shared HMAC key: at least 16 characters. */
  secret: string;
  /** The whole request, connect to response end. */
  timeoutMs: number;
  /** Extra headers (e.g. an API key for the receiver); not those this output sets itself. */
  headers?: Record<string, string>;
  logger: Logger;
}

/** The answers that refuse the message itself: retrying the same body cannot help. */
export const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 413, 415, 422]);

/** 128 bits of a random hex or base64 key: less is guessable offline from one signed body. */
export const MIN_SECRET_LENGTH = 16;
/** What of a refusal's body is quoted in the error: enough for a receiver's "field x is required". */
const BODY_QUOTE_MAX = 200;
/** What of a refusal's body is read at all; the rest is dropped with the connection. */
const BODY_READ_MAX = 4096;

// RFC 9110 token characters: a header name.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A header value node:http sends as given: tab, visible ASCII, Latin-1; never CR, LF or NUL
// (they would split the request and let a value write headers of its own).
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Set by this output; a configured header may not replace them.
const OWN_HEADERS = new Set([
  'content-type',
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'user-agent',
  'x-facegate-id',
  'x-facegate-timestamp',
  'x-facegate-signature',
]);

/**
 * The URL as errors show it: redactUrl (user-info becomes ***@, and the values of secret-named
 * query parameters such as ?token= or ?api_key= become ***), with the whole query then replaced by
 * "?***": redactUrl keeps a parameter whose name does not look secret, and webhook URLs often carry
 * their key in one (?code= for Azure Functions). A key in the path itself (Slack's and Discord's
 * /services/T/B/<key>) is not recognisable and is shown.
 */
export function describeUrl(url: string): string {
  const redacted = redactUrl(url);
  const query = redacted.search(/[?#]/);
  return query < 0 ? redacted : `${redacted.slice(0, query)}?${REDACTED}`;
}

function refuse(what: string, received: string): never {
  throw new Error(`webhook output: Expected ${what} but received ${received}`);
}

function parseUrl(value: unknown): URL {
  if (typeof value !== 'string') refuse('url to be an http:// or https:// URL', describeTyped(value));
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse('url to be an http:// or https:// URL', quoteReceived(describeUrl(value), 200));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    refuse('url to be an http:// or https:// URL', quoteReceived(describeUrl(value), 200));
  }
  return url;
}

function checkHeaders(headers: unknown, hasUrlCredentials: boolean): Record<string, string> {
  if (headers === undefined) return {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    refuse('headers to be an object of header names and values', describeTyped(headers));
  }
  const checked: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) {
      refuse("a header name of letters, digits and !#$%&'*+-.^_`|~", quoteReceived(name, 80));
    }
    if (OWN_HEADERS.has(lower)) refuse(`a header other than those facegate sets itself`, quoteReceived(name, 80));
    if (lower === 'authorization' && hasUrlCredentials) {
      refuse('either user:password@ in url or an Authorization header', 'both');
    }
    if (seen.has(lower)) refuse('each header name once (names are case-insensitive)', quoteReceived(name, 80));
    seen.add(lower);
    // The value is never quoted: it is likely a key.
    if (typeof value !== 'string') refuse(`header ${name} to be a string`, `a value of type ${typeof value}`);
    if (!HEADER_VALUE.test(value)) {
      refuse(
        `header ${name} to be one line of printable characters`,
        /[\r\n]/.test(value) ? 'a value with a line break (CR or LF)' : 'a value with a control character',
      );
    }
    checked[name] = value;
  }
  return checked;
}

export class WebhookOutput implements Output {
  readonly kind = 'webhook' as const;
  readonly name: string;
  private readonly url: URL;
  /** The URL as messages show it. */
  private readonly target: string;
  private readonly secret: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly logger: Logger;
  private readonly agent: http.Agent;
  /** Everything an error message must never show. */
  private readonly secrets: string[];
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(options: WebhookOutputOptions) {
    const { name, secret, timeoutMs, logger } = options;
    if (typeof name !== 'string' || name.trim().length === 0) {
      refuse('name to be a non-empty string', describeTyped(name));
    }
    this.name = name;
    this.url = parseUrl(options.url);
    this.target = describeUrl(this.url.href);
    if (typeof secret !== 'string') refuse('secret to be a string', `a value of type ${typeof secret}`);
    if (secret.length < MIN_SECRET_LENGTH) {
      refuse(`secret to be at least ${MIN_SECRET_LENGTH} characters`, `${secret.length}`);
    }
    this.secret = secret;
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
      refuse('timeoutMs to be a positive whole number of milliseconds', describeTyped(timeoutMs));
    }
    this.timeoutMs = timeoutMs;
    const hasUrlCredentials = this.url.username !== '' || this.url.password !== '';
    this.headers = checkHeaders(options.headers, hasUrlCredentials);
    this.logger = logger;
    const Agent = this.url.protocol === 'https:' ? https.Agent : http.Agent;
    // One connection is enough: the dispatcher delivers one message at a time per output.
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // Shorter values would replace innocent text; they are never printed in the first place.
    const { username, password } = this.url;
    const basic = Buffer.from(`${safeDecode(username)}:${safeDecode(password)}`).toString('base64');
    this.secrets = [
      secret,
      ...Object.values(this.headers),
      password,
      safeDecode(password),
      username,
      safeDecode(username),
      ...(hasUrlCredentials ? [basic] : []),
    ].filter((s) => s.length >= 4);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  connected(): null {
    return null;
  }

  deliver(message: OutputMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`webhook output ${this.name}: closed; the message stays queued`));
    const body = JSON.stringify(message);
    const headers = {
      ...this.headers,
      ...signatureHeaders(this.secret, body, message.id, Date.now()),
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      'User-Agent': 'facegate',
    };
    const started = Date.now();
    return new Promise<void>((resolve, reject) => {
      const send = this.url.protocol === 'https:' ? https.request : http.request;
      // With a URL, node sends its decoded user:password@ as Basic authorization.
      const request = send(this.url, { method: 'POST', headers, agent: this.agent });
      this.inFlight.add(request);
      let settled = false;
      const settle = (error: Error | null) => {
        if (settled) return;
        settled = true;
        if (error === null) {
          this.logger.debug({ output: this.name, id: message.id, ms: Date.now() - started }, 'webhook: delivered');
          resolve();
        } else {
          reject(error);
        }
      };
      // The deadline ends the request however far it got; a 2xx has settled the promise already
      // and only its body is left to drain (or be cut here).
      const timer = setTimeout(() => {
        settle(
          new Error(
            this.scrub(`Expected a 2xx from ${this.target} but received no answer within ${this.timeoutMs} ms`),
          ),
        );
        request.destroy();
      }, this.timeoutMs);
      let responded = false;
      request.on('error', (error: Error) => {
        settle(
          new Error(
            this.scrub(
              this.closed
                ? this.closedMessage()
                : `Expected a 2xx from ${this.target} but received no answer: ${describeNetworkError(error)}`,
            ),
          ),
        );
      });
      request.on('close', () => {
        this.inFlight.delete(request);
        if (!responded) {
          clearTimeout(timer);
          // Closed with no answer and no 'error' (destroyed by close()): never leave the caller waiting.
          settle(
            new Error(
              this.scrub(
                this.closed
                  ? this.closedMessage()
                  : `Expected a 2xx from ${this.target} but the connection closed with no answer`,
              ),
            ),
          );
        }
      });
      request.on('response', (response) => {
        responded = true;
        const status = response.statusCode ?? 0;
        // A cut body (the deadline, close()) still ends in 'close', which settles below.
        response.on('error', () => undefined);
        if (status >= 200 && status < 300) {
          settle(null);
          response.on('close', () => clearTimeout(timer));
          response.resume();
          return;
        }
        const chunks: Buffer[] = [];
        let length = 0;
        response.on('data', (chunk: Buffer) => {
          if (length >= BODY_READ_MAX) return;
          chunks.push(chunk);
          length += chunk.length;
        });
        // 'close' follows 'end', and also comes when the body was cut: the refusal is known from
        // the status either way.
        response.on('close', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).subarray(0, BODY_READ_MAX).toString('utf8');
          settle(this.refusal(status, response.statusMessage ?? '', text, response.headers.location));
        });
      });
      request.end(body);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    for (const request of this.inFlight) request.destroy();
    this.agent.destroy();
    return Promise.resolve();
  }

  private closedMessage(): string {
    return `webhook output ${this.name}: closed while sending to ${this.target}; the message stays queued`;
  }

  /** The error for a non-2xx answer: retryable (plain Error) or PermanentDeliveryError. */
  private refusal(status: number, statusText: string, body: string, location: string | undefined): Error {
    const shown = body.trim().length > 0 ? `: ${quoteReceived(redactCredentials(body.trim()), BODY_QUOTE_MAX)}` : '';
    const head = `Expected a 2xx from ${this.target} but received ${status}${statusText ? ` ${statusText}` : ''}`;
    if (status >= 300 && status < 400) {
      const to = location === undefined ? 'no Location' : `Location ${quoteReceived(describeUrl(location), 200)}`;
      return new PermanentDeliveryError(
        this.scrub(
          `${head} (a redirect to ${to}); redirects are not followed (the signed body goes only to the configured url): set url to where the receiver is`,
        ),
      );
    }
    // Only a refusal of this message's content is permanent (400, 413, 415, 422). A refusal of the
    // sender or the place (401, 403, 404, 410: a rotated key, an endpoint down during a deploy) is
    // retried, shown as the output failing, so that fixing it delivers everything since.
    const retryable = !PERMANENT_STATUSES.has(status);
    const message = this.scrub(`${head}${shown}`);
    return retryable ? new Error(message) : new PermanentDeliveryError(message);
  }

  /** Belt and braces: any secret that found its way into a message (a receiver echoing a header back) becomes ***. */
  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A socket error in words: its code and message ("ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9"). */
function describeNetworkError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return redactCredentials(
    code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message,
  );
}
