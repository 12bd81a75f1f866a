// The console's sign-in sessions: the API token (or nothing) is exchanged once for a random session
// id in an HttpOnly, SameSite=Strict cookie, so the token never rides in a URL or a page. Each
// session has its own CSRF token that every state-changing form carries; the operator's name given
// at sign-in is the actor recorded in review_actions ("console:<name>"). Sessions live in memory:
// a restart of the service signs everyone out, which is the safe side for an appliance.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'facegate_session';
/** A session unused this long is gone (8 h: a shift). */
export const SESSION_IDLE_MS = 8 * 3_600_000;
/** At most this many sessions; the least recently used goes first. */
const MAX_SESSIONS = 200;

export interface ConsoleSession {
  id: string;
  /** Who is at the keyboard, as recorded: "console:<name>". */
  actor: string;
  /** The synchronizer token every state-changing request must carry (the form field `_csrf`). */
  csrf: string;
  lastUsedMs: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(private readonly now: () => number = Date.now) {}

  create(operator: string): ConsoleSession {
    const session: ConsoleSession = {
      id: randomBytes(32).toString('base64url'),
      actor: `console:${operator}`,
      csrf: randomBytes(32).toString('base64url'),
      lastUsedMs: this.now(),
    };
    this.sessions.set(session.id, session);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
    return session;
  }

  /** The live session with this id (its idle clock restarted), or null. */
  get(id: string | undefined): ConsoleSession | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    if (this.now() - session.lastUsedMs > SESSION_IDLE_MS) {
      this.sessions.delete(id);
      return null;
    }
    session.lastUsedMs = this.now();
    // Most recently used last: the bound drops the stalest.
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }
}

/** Constant-time: whether `given` is the session's CSRF token. */
export function csrfMatches(session: ConsoleSession, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(session.csrf, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
