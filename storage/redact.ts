// The one rule for showing a URL that may carry credentials (database, Redis, camera URLs) in
// anything the appliance prints: logs, errors, `config check`, `doctor`, backup manifests. It
// lives in storage/ so that both layers use it (storage imports nothing from src/).
//
// It works on the text, not through `new URL()`: a URL that does not parse (a password with an
// unencoded '@', '/' or '?', a typo in the scheme) must be hidden too, and conservatively, never
// printed raw; and re-serialising could re-encode what the user wrote.

/** What every hidden part is replaced with. */
export const REDACTED = '***';

/**
 * Parameter names whose values are secrets, matched anywhere in the name, case-insensitively:
 * password, passwd, pass, pwd, token, access_token, secret, key, apikey, api_key, auth, sig,
 * signature, credential(s), session, jwt (a bearer token by another name). A little too much
 * hidden is the safe side of this rule.
 */
const SECRET_NAME = /pass|pwd|token|secret|key|auth|sig|credential|session|jwt/i;

// name=value pairs after the authority: in the query, the fragment, ';' parameters and the path
// (some cameras take /user=admin&password=x&channel=1 in the path).
const PAIR = /([/?&#;])([^=/?&#;\s]*)=([^/?&#;\s]*)/g;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)/;

/** Whether a parameter or key name holds a secret (SECRET_NAME), percent-escapes decoded. */
export function isSecretName(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // A malformed escape: test the name as written.
  }
  return SECRET_NAME.test(decoded);
}

function redactPairs(text: string): string {
  return text.replace(PAIR, (pair, sep: string, name: string) =>
    isSecretName(name) ? `${sep}${name}=${REDACTED}` : pair,
  );
}

/**
 * `url` with its credentials hidden, for printing: the whole user-info part (`user:password@`,
 * a user-less `:password@`, a lone `token@`) becomes `***@`, and the values of secret-named
 * parameters become `***`. `rtsp://admin:pw@cam/x?token=t` -> `rtsp://***@cam/x?token=***`.
 * Never throws. A string that is not a well-formed URL is hidden by the same rule, erring on the
 * side of hiding: everything up to the last '@' that could end a user-info part goes.
 */
export function redactUrl(url: string): string {
  const text = String(url);
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme === undefined) {
    // No "scheme://": no authority to find, but "user:pw@host" is still hidden.
    const at = text.lastIndexOf('@');
    return redactPairs(at >= 0 ? `${REDACTED}${text.slice(at)}` : text);
  }
  const rest = text.slice(scheme.length);
  // WHATWG ends the authority at the first '/', '?' or '#'; a password holding one of them
  // unencoded moves that end, so the later of "last '@' before the first '?'/'#'" and "last '@'
  // before the first '/'" is taken as the end of the user-info part.
  const cut = (stops: RegExp) => {
    const end = rest.search(stops);
    return rest.lastIndexOf('@', end < 0 ? rest.length : end - 1);
  };
  const at = Math.max(cut(/[?#]/), cut(/\//));
  const hostAndRest = at >= 0 ? `${REDACTED}${rest.slice(at)}` : rest;
  return scheme + redactPairs(hostAndRest);
}

// A URL inside free text: from the scheme to the next whitespace or quote.
const URL_IN_TEXT = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s'"<>]+/g;
// key=value outside a URL (libpq's "password=x host=y", a tool's own message).
const PAIR_IN_TEXT = /(^|[\s,;&?])([A-Za-z0-9_.-]+)=("[^"]*"|'[^']*'|[^\s,;&'"]*)/g;

// key: value outside a URL: a YAML or JSON line a parser quotes in its error ("password: x",
// "\"token\":\"x\""), an HTTP header ("Authorization: Bearer x"). The key may be quoted; the
// value is the rest of the token on the same line (never the next line: [ \t], not \s), a quoted
// string, or an auth scheme and its credentials. "://" is a URL, left to URL_IN_TEXT.
const COLON_PAIR_IN_TEXT =
  /(^|[\s,;&?{[(])(["']?)([A-Za-z0-9_.-]+)\2([ \t]*:(?!\/\/)[ \t]*)((?:Bearer|Basic)[ \t]+[^\s,;&'"}\]]+|"[^"\n]*"|'[^'\n]*'|[^\s,;&'"}\]]+)/gi;

/**
 * Free text (ffmpeg's or pg_dump's stderr, an error message) with every URL in it passed through
 * redactUrl() and the value of every secret-named `key=value` and `key: value` hidden.
 */
export function redactCredentials(text: string): string {
  return String(text)
    .replace(PAIR_IN_TEXT, (pair, before: string, name: string) =>
      isSecretName(name) ? `${before}${name}=${REDACTED}` : pair,
    )
    .replace(COLON_PAIR_IN_TEXT, (pair, before: string, quote: string, name: string, colon: string) =>
      isSecretName(name) ? `${before}${quote}${name}${quote}${colon}${REDACTED}` : pair,
    )
    .replace(URL_IN_TEXT, (url) => redactUrl(url));
}
