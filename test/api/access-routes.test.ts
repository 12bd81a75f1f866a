// The API's part of access control (issue 17): a user's roles replaced by PUT /users/:id/roles (the
// user directory sees them at once), and recognition events filtered by their access verdict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';

import type { ApiDeps } from '../../src/api/api-deps.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { openTestApi } from '../helpers/test-api.js';

let appliance: TestAppliance;
let app: FastifyInstance;
let deps: ApiDeps;
let token: string;
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  appliance = await openTestAppliance('access_api');
  ({ app, deps, token } = await openTestApi(appliance));
  await appliance.storage.db.createUser({ id: 'ada', name: 'Ada', roles: ['staff'] });
  const base = { cameraId: 'gate_1', confidence: 0.9, trackId: null, modelId: null, threshold: 0.54 };
  for (const [verdict, user] of [
    ['granted', 'ada'],
    ['denied', 'ada'],
    ['unknown', null],
  ] as const) {
    await appliance.storage.db.recordRecognition({
      ...base,
      timestamp: new Date(),
      matchedUserId: user,
      access: { verdict, reason: `test ${verdict}` },
    });
  }
}, 120_000);
afterAll(async () => {
  await app.close();
  await appliance.close();
});

describe('PUT /users/:id/roles', () => {
  it('replaces the roles, and the user directory knows them at once', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/users/ada/roles',
      headers: auth(),
      payload: { roles: ['security', 'staff', 'security'] },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ user: { id: 'ada', roles: ['security', 'staff'] } });
    expect(deps.users.rolesOf('ada')).toEqual(['security', 'staff']);
  });

  it('refuses a body that is not {"roles": [strings]} with what it received, and an absent user with 404', async () => {
    for (const payload of [{ roles: 'staff' }, { roles: [1] }, ['staff'], {}]) {
      const r = await app.inject({ method: 'PUT', url: '/users/ada/roles', headers: auth(), payload });
      expect(r.statusCode).toBe(400);
      expect(r.json<{ error: string }>().error).toMatch(
        /^Expected a JSON body \{"roles": \["role", \.\.\.\]\} but received/,
      );
    }
    const absent = await app.inject({
      method: 'PUT',
      url: '/users/nobody/roles',
      headers: auth(),
      payload: { roles: [] },
    });
    expect(absent.statusCode).toBe(404);
    const bad = await app.inject({
      method: 'PUT',
      url: '/users/ada/roles',
      headers: auth(),
      payload: { roles: ['a\u0007b'] },
    });
    expect(bad.statusCode).toBe(400);
    expect(deps.users.rolesOf('ada')).toEqual(['security', 'staff']);
  });
});

describe('GET /events?access=', () => {
  it('returns the events with that verdict, each with its access, and refuses an unknown verdict', async () => {
    const r = await app.inject({ method: 'GET', url: '/events?access=denied', headers: auth() });
    expect(r.statusCode).toBe(200);
    const events = r.json<{ events: { access: unknown }[] }>().events;
    expect(events.map((e) => e.access)).toEqual([{ verdict: 'denied', reason: 'test denied' }]);
    const bad = await app.inject({ method: 'GET', url: '/events?access=allowed', headers: auth() });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(
      /Expected access=granted\|denied\|unknown but received "allowed"/,
    );
  });
});
