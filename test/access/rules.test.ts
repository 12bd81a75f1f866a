// Access verdicts: roles per door, days and hours in the site's time zone (issue 17).
import { describe, expect, it } from 'vitest';

import { type AccessRules, accessVerdict, isTimeZone, localTime, minutesOf } from '../../src/access/rules.js';

const rules: AccessRules = {
  timeZone: 'Europe/Berlin',
  doors: {
    gate_1: [
      { roles: ['staff'], days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '07:00', to: '19:00' },
      { roles: ['security'] },
    ],
    night_door: [{ roles: ['cleaner'], from: '22:00', to: '06:00', days: ['mon'] }],
  },
};
const ada = { id: 'ada', status: 'active' as const, roles: ['staff'] };
// 2026-11-23 is a Monday. Berlin is UTC+1 in November.
const mondayNoon = new Date('2026-11-23T11:00:00Z'); // 12:00 in Berlin
const mondayEvening = new Date('2026-11-23T19:30:00Z'); // 20:30 in Berlin
const saturdayNoon = new Date('2026-11-28T11:00:00Z');

describe('accessVerdict', () => {
  it('grants a known, active user whose role the door allows now, saying which rule', () => {
    expect(accessVerdict(rules, { cameraId: 'gate_1', at: mondayNoon, user: ada })).toEqual({
      verdict: 'granted',
      reason: 'role staff, mon,tue,wed,thu,fri 07:00-19:00',
    });
  });

  it('denies the same user outside the hours and on a day not listed, in the site time zone', () => {
    // 18:30 UTC is 19:30 in Berlin: outside, although the UTC hour is inside.
    for (const at of [mondayEvening, new Date('2026-11-23T18:30:00Z'), saturdayNoon]) {
      const v = accessVerdict(rules, { cameraId: 'gate_1', at, user: ada });
      expect(v.verdict).toBe('denied');
      expect(v.reason).toMatch(/^outside hours at gate_1 \(.*Europe\/Berlin\)$/);
    }
    expect(accessVerdict(rules, { cameraId: 'gate_1', at: new Date('2026-11-23T17:59:00Z'), user: ada }).verdict).toBe(
      'granted',
    );
  });

  it('denies a role the door does not allow, and a camera no rule mentions', () => {
    expect(accessVerdict(rules, { cameraId: 'night_door', at: mondayNoon, user: ada })).toEqual({
      verdict: 'denied',
      reason: 'roles staff: not allowed at night_door',
    });
    expect(accessVerdict(rules, { cameraId: 'back_door', at: mondayNoon, user: ada })).toEqual({
      verdict: 'denied',
      reason: 'no access rule for camera back_door',
    });
    expect(accessVerdict(rules, { cameraId: 'gate_1', at: mondayNoon, user: { ...ada, roles: [] } }).reason).toBe(
      'no role: not allowed at gate_1',
    );
  });

  it('never grants a disabled user, whatever the roles and hours', () => {
    const disabled = { ...ada, status: 'disabled' as const, roles: ['staff', 'security'] };
    expect(accessVerdict(rules, { cameraId: 'gate_1', at: mondayNoon, user: disabled })).toEqual({
      verdict: 'denied',
      reason: 'user ada is disabled',
    });
  });

  it('says unknown for a face that named nobody', () => {
    expect(accessVerdict(rules, { cameraId: 'gate_1', at: mondayNoon, user: null })).toEqual({
      verdict: 'unknown',
      reason: 'unknown face',
    });
  });

  it('lets a window span midnight from the day it starts', () => {
    const cleaner = { id: 'c', status: 'active' as const, roles: ['cleaner'] };
    const at = (iso: string) =>
      accessVerdict(rules, { cameraId: 'night_door', at: new Date(iso), user: cleaner }).verdict;
    expect(at('2026-11-23T21:30:00Z')).toBe('granted'); // Monday 22:30
    expect(at('2026-11-24T04:30:00Z')).toBe('granted'); // Tuesday 05:30, Monday's night
    expect(at('2026-11-24T05:30:00Z')).toBe('denied'); // Tuesday 06:30
    expect(at('2026-11-24T21:30:00Z')).toBe('denied'); // Tuesday 22:30: not a listed day
  });

  it('grants by any rule of the door: a role with no schedule passes at any time', () => {
    const guard = { id: 'g', status: 'active' as const, roles: ['security'] };
    expect(accessVerdict(rules, { cameraId: 'gate_1', at: saturdayNoon, user: guard })).toEqual({
      verdict: 'granted',
      reason: 'role security, every day',
    });
  });
});

describe('time helpers', () => {
  it('reads HH:MM and refuses anything else with what it received', () => {
    expect(minutesOf('from', '07:30')).toBe(450);
    expect(() => minutesOf('from', '24:00')).toThrow(/Expected "HH:MM" \(00:00-23:59\) for from but received 24:00/);
    expect(() => minutesOf('to', '7:30')).toThrow(/for to/);
  });

  it('knows IANA time zones and takes the local day and minute across a DST change', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    // Sunday 2026-03-29 01:30 UTC: 03:30 in Berlin, an hour after the clocks went forward.
    expect(localTime(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toEqual({ day: 'sun', minute: 210 });
  });
});
