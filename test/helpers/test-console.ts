// The operator console (src/console/) on a test appliance, as `serve` serves it beside the API but
// without cameras: sign in, then GET and POST as a browser would (the session cookie, the page's
// CSRF token). Browser tests in real Chromium use a running `facegate serve` instead.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

import { type ApiDeps, cameralessApiDeps } from '../../src/api/api-deps.js';
import { buildApi } from '../../src/api/server.js';
import { loadOrCreateToken } from '../../src/api/token.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../src/api/upload.js';
import { type ConsoleDeps, registerConsole } from '../../src/console/index.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import type { TestAppliance } from './test-appliance.js';

export interface TestConsole {
  app: FastifyInstance;
  deps: ApiDeps;
  token: string;
  /** Signs in as `operator`; the cookie header and the CSRF token of the session. */
  signIn(operator?: string): Promise<Browser>;
}

export interface Browser {
  cookie: string;
  csrf: string;
  get(path: string): Promise<LightMyRequestResponse>;
  /** A form POST (urlencoded), with the session's CSRF token added unless `csrf: false`. */
  post(path: string, form?: Record<string, string>, options?: { csrf?: boolean }): Promise<LightMyRequestResponse>;
  /** A multipart POST (files and fields), the CSRF token in the action URL's query, as the console's upload forms send it. */
  upload(
    path: string,
    fields: Record<string, string>,
    files: { field: string; name: string; bytes: Buffer; type?: string }[],
  ): Promise<LightMyRequestResponse>;
}

/** The CSRF token a page's forms carry. */
export function csrfOf(htmlText: string): string {
  const match = /name="_csrf"\s+value="([^"]+)"/.exec(htmlText);
  if (!match?.[1]) throw new Error('Expected a page with a CSRF field but found none');
  return match[1];
}

export async function openTestConsole(
  appliance: TestAppliance,
  extra: Partial<Pick<ConsoleDeps, 'snapshot'>> & Partial<ApiDeps> = {},
): Promise<TestConsole> {
  const { storage, vision, dataRoot } = appliance;
  const users = new UserDirectory(storage.db, storage.embeddings.modelId);
  await users.refresh();
  const deps: ApiDeps = { ...cameralessApiDeps({ storage, vision, users }), ...extra };
  const token = await loadOrCreateToken(dataRoot);
  const app = buildApi(deps, {
    token,
    dataRoot,
    extend: (a) =>
      registerConsole(
        a,
        { ...deps, token, ...(extra.snapshot ? { snapshot: extra.snapshot } : {}) },
        {
          bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
          dataRoot,
        },
      ),
  });
  await app.ready();
  return {
    app,
    deps,
    token,
    async signIn(operator = 'tester') {
      const res = await app.inject({
        method: 'POST',
        url: '/console/sign-in',
        payload: new URLSearchParams({ operator, token }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      const set = res.headers['set-cookie'];
      const cookie = (Array.isArray(set) ? set[0] : set)?.split(';')[0];
      if (res.statusCode !== 303 || !cookie) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
      const home = await app.inject({ method: 'GET', url: '/console/unknown', headers: { cookie } });
      const csrf = csrfOf(home.body);
      return {
        cookie,
        csrf,
        get: (path) => app.inject({ method: 'GET', url: path, headers: { cookie } }),
        post: (path, form = {}, options = {}) =>
          app.inject({
            method: 'POST',
            url: path,
            payload: new URLSearchParams(options.csrf === false ? form : { ...form, _csrf: csrf }).toString(),
            headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          }),
        upload: (path, fields, files) => {
          const form = new FormData();
          for (const [k, v] of Object.entries(fields)) form.append(k, v);
          for (const f of files) form.append(f.field, new Blob([f.bytes], { type: f.type ?? 'image/jpeg' }), f.name);
          const request = new Request('http://x', { method: 'POST', body: form });
          return request.arrayBuffer().then((body) =>
            app.inject({
              method: 'POST',
              url: `${path}${path.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(csrf)}`,
              payload: Buffer.from(body),
              headers: { cookie, 'content-type': request.headers.get('content-type') ?? '' },
            }),
          );
        },
      };
    },
  };
}
