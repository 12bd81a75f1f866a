// Access rules (issue 17): who may pass which door, and when. Each camera is a door; a door lists
// the roles that may pass it and, for each, the days and hours, in the site's time zone. Every
// recognition gets a verdict from them:
// - granted: a known, active user with a role the door allows now;
// - denied: a known user who is disabled, has no role the door allows, or comes outside the
//   role's hours (the reason says which);
// - unknown: a face that named nobody.
// A camera no rule mentions denies every known user: access control that forgets a door must not
// open it. Pure: the time comes in, the time zone is the configuration's; no clock, no I/O.
import { describeTyped } from '../../storage/checks.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** One role set's permission at a door: every day and all day unless days / from-to narrow it. */
export interface DoorRule {
  roles: readonly string[];
  /** Default: every day. */
  days?: readonly Weekday[] | undefined;
  /** "HH:MM", local time; from > to spans midnight (22:00-06:00). Default: the whole day. */
  from?: string | undefined;
  to?: string | undefined;
}

export interface AccessRules {
  /** An IANA time zone ("Europe/Berlin"): the doors' hours are in it. */
  timeZone: string;
  /** Camera id -> its rules (any one that allows the user grants). */
  doors: Readonly<Record<string, readonly DoorRule[]>>;
}

export type AccessVerdictKind = 'granted' | 'denied' | 'unknown';

export interface AccessVerdict {
  verdict: AccessVerdictKind;
  /** Why, in words: "role staff, mon-fri 07:00-19:00", "disabled", "outside hours ...". */
  reason: string;
}

export interface AccessRequest {
  cameraId: string;
  at: Date;
  /** The recognition's user: null for an unknown face. */
  user: { id: string; status: 'active' | 'disabled'; roles: readonly string[] } | null;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes since local midnight of "HH:MM"; throws with what was received. */
export function minutesOf(name: string, hhmm: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new TypeError(`Expected "HH:MM" (00:00-23:59) for ${name} but received ${describeTyped(hhmm)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Whether the runtime knows the time zone (Intl's own list). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The local weekday and minute of the day of `at` in `timeZone`. */
export function localTime(at: Date, timeZone: string): { day: Weekday; minute: number } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = get('weekday').toLowerCase().slice(0, 3) as Weekday;
  return { day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

function describeRule(rule: DoorRule): string {
  const days = rule.days && rule.days.length < 7 ? rule.days.join(',') : 'every day';
  const hours =
    rule.from !== undefined || rule.to !== undefined ? ` ${rule.from ?? '00:00'}-${rule.to ?? '24:00'}` : '';
  return `${days}${hours}`;
}

/**
 * Whether the rule's days and hours hold at the local day and minute. A window spanning midnight
 * (22:00-06:00) counts on the day it starts: from 22:00 on a listed day until 06:00 the next day.
 */
function inSchedule(rule: DoorRule, day: Weekday, minute: number): boolean {
  const days = rule.days ?? WEEKDAYS;
  const from = rule.from === undefined ? 0 : minutesOf('from', rule.from);
  const to = rule.to === undefined ? 24 * 60 : minutesOf('to', rule.to);
  if (from <= to) return days.includes(day) && minute >= from && minute < to;
  const yesterday = WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7] as Weekday;
  return (days.includes(day) && minute >= from) || (days.includes(yesterday) && minute < to);
}

export function accessVerdict(rules: AccessRules, request: AccessRequest): AccessVerdict {
  const { user, cameraId } = request;
  if (!user) return { verdict: 'unknown', reason: 'unknown face' };
  if (user.status !== 'active') return { verdict: 'denied', reason: `user ${user.id} is disabled` };
  const doorRules = rules.doors[cameraId];
  if (!doorRules || doorRules.length === 0) {
    return { verdict: 'denied', reason: `no access rule for camera ${cameraId}` };
  }
  const allowing = doorRules.filter((r) => r.roles.some((role) => user.roles.includes(role)));
  if (allowing.length === 0) {
    const held = user.roles.length > 0 ? `roles ${user.roles.join(', ')}` : 'no role';
    return { verdict: 'denied', reason: `${held}: not allowed at ${cameraId}` };
  }
  const { day, minute } = localTime(request.at, rules.timeZone);
  const now = allowing.find((r) => inSchedule(r, day, minute));
  if (!now) {
    return {
      verdict: 'denied',
      reason: `outside hours at ${cameraId} (${allowing.map(describeRule).join('; ')}, ${rules.timeZone})`,
    };
  }
  const role = now.roles.find((r) => user.roles.includes(r)) as string;
  return { verdict: 'granted', reason: `role ${role}, ${describeRule(now)}` };
}
