// JSON for what facegate answers (the API's replies, the CLI's --json): 64-bit ids (unknown-face
// groups and faces, bigint in PostgreSQL and here) are written as decimal strings, which
// JSON.stringify would otherwise refuse and which a JavaScript reader's number would round past 2^53.

/** JSON.stringify with every bigint written as its decimal string. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
