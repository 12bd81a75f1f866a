// Every console page's frame: the header with the sections and the sign-out button, a notice
// (an error that reads like the CLI's: what was expected, what was received; or a confirmation),
// and the page's own content. Pages build their content with html.ts and hand it here.
import { html, type SafeHtml } from './html.js';
import type { ConsoleSession } from './session.js';

export const SECTIONS = [
  { id: 'unknown', href: '/console/unknown', label: 'Unknown faces' },
  { id: 'people', href: '/console/people', label: 'People' },
  { id: 'events', href: '/console/events', label: 'Events' },
  { id: 'cameras', href: '/console/cameras', label: 'Cameras & health' },
] as const;
export type Section = (typeof SECTIONS)[number]['id'];

export interface Notice {
  kind: 'error' | 'ok';
  text: string;
  /** Per item details (a refused photo's name and why). */
  details?: string[];
}

/** The hidden form field every state-changing form carries. */
export function csrfField(session: ConsoleSession): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${session.csrf}" />`;
}

/** The same token for a multipart form's action URL (its body is read by the handler, after the check). */
export function csrfQuery(session: ConsoleSession): string {
  return `_csrf=${encodeURIComponent(session.csrf)}`;
}

export function noticeBox(notice: Notice | null | undefined): SafeHtml {
  if (!notice) return html``;
  return html`<div class="notice ${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">
    ${notice.text}
    ${
      notice.details?.length
        ? html`<ul>
            ${notice.details.map((d) => html`<li>${d}</li>`)}
          </ul>`
        : ''
    }
  </div>`;
}

function shell(title: string, head: SafeHtml | string, body: SafeHtml): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · facegate</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        ${head} ${body}
      </body>
    </html>`.value;
}

/** A signed-in page. */
export function page(options: {
  title: string;
  session: ConsoleSession;
  section: Section;
  body: SafeHtml;
  notice?: Notice | null;
}): string {
  const { title, session, section, body, notice } = options;
  const header = html`<header>
    <span class="brand">facegate</span>
    <nav aria-label="Sections">
      ${SECTIONS.map((s) => html`<a href="${s.href}" ${s.id === section ? html`aria-current="page"` : ''}>${s.label}</a>`)}
    </nav>
    <span class="who">${session.actor.replace(/^console:/, '')}</span>
    <form method="post" action="/console/sign-out">
      ${csrfField(session)}<button class="secondary" type="submit">Sign out</button>
    </form>
  </header>`;
  return shell(
    title,
    header,
    html`<main>
      <h1>${title}</h1>
      ${noticeBox(notice)}${body}
    </main>`,
  );
}

/** A page without a session: the sign-in page, or a refusal shown before one exists. */
export function bareShell(title: string, body: SafeHtml): string {
  return shell(title, html`<header><span class="brand">facegate</span></header>`, html`<main>${body}</main>`);
}
