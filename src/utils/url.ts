/**
 * URL helpers. Every URL that can reach a log line, an error, the CLI or the dashboard goes through
 * `redactUrl` first, so credentials never leave the process.
 */

const SCHEME_AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?/i;
/**
 * `user:secret@` whose secret holds an unquoted `/` (AWS secret keys often do): up to the last `@`
 * before any query, so the secret is hidden even when the user forgot to URL-quote it.
 */
const USER_SECRET_AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#:@]*:[^?#]*@)/i;

/** Replace the password (or a lone secret) in every URL of a `;`-separated list with `**`. */
export function redactUrl(url: string): string {
  return url
    .split(';')
    .map((part) => redactOne(part))
    .join(';');
}

function redactOne(url: string): string {
  const m = USER_SECRET_AUTHORITY.exec(url) ?? SCHEME_AUTHORITY.exec(url);
  if (!m || !m[2]) return url;
  const userinfo = m[2].slice(0, -1);
  const colon = userinfo.indexOf(':');
  const redacted = colon === -1 ? (userinfo ? '**' : '') : `${userinfo.slice(0, colon)}:**`;
  return `${m[1]}${redacted}@${url.slice(m[0].length)}`;
}

/** Redact every URL-with-credentials found inside free text (error messages from drivers). */
export function redactText(text: string, secrets: string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/@]*)@/gi, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon === -1 ? '**' : `${userinfo.slice(0, colon)}:**`}@`;
  });
  for (const secret of secrets) if (secret) out = out.split(secret).join('**');
  return out;
}

/** The scheme of a URL (`redis`, `sqlite`, `db+sqlite`, …), lowercased, or null. */
export function urlScheme(url: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return m ? (m[1] as string).toLowerCase() : null;
}
