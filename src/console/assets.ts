// The console's only assets, kept in the program itself so that nothing is fetched from elsewhere
// (the appliance may have no internet) and nothing needs a build step: one stylesheet and one small
// script. The script only improves what works without it: camera snapshots refresh themselves,
// and photos dropped on the enrolment form land in its file input.
export const CONSOLE_CSS = `
:root { --fg: #1d2430; --muted: #5b6576; --line: #d5dae1; --bg: #f5f6f8; --card: #fff; --accent: #1f5fbf;
  --ok: #17773a; --bad: #b3261e; --warn: #8a5a00; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
header { display: flex; align-items: center; gap: 1.5rem; padding: .5rem 1rem; background: #15203a; color: #fff; }
header .brand { font-weight: 700; letter-spacing: .02em; }
header nav { display: flex; gap: .25rem; flex: 1; }
header nav a { color: #dfe6f5; text-decoration: none; padding: .35rem .7rem; border-radius: 4px; }
header nav a[aria-current="page"], header nav a:hover { background: #2c3b63; color: #fff; }
header form { margin: 0; }
header .who { color: #b9c4dc; font-size: .9em; }
main { padding: 1rem 1.25rem; max-width: 1320px; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .6rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; margin-bottom: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: .8rem; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem; text-decoration: none; color: inherit; display: block; }
.tile img, img.crop { width: 100%; aspect-ratio: 1; object-fit: cover; border-radius: 4px; background: #dde2ea; display: block; }
.tile .meta { font-size: .85em; color: var(--muted); margin-top: .35rem; }
.tile strong { color: var(--fg); }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: .9em; }
td img.thumb { width: 48px; height: 48px; object-fit: cover; border-radius: 3px; }
form.inline { display: inline; }
form.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: 1rem; }
label { display: block; font-size: .9em; color: var(--muted); }
input, select, button, textarea { font: inherit; }
input[type="text"], input[type="password"], input[type="search"], input[type="datetime-local"], select {
  display: block; padding: .35rem .5rem; border: 1px solid #aab3c0; border-radius: 4px; background: #fff; min-width: 10rem; }
button, .button { display: inline-block; padding: .4rem .9rem; border-radius: 4px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.notice { padding: .6rem .9rem; border-radius: 5px; margin-bottom: 1rem; border: 1px solid; }
.notice.error { background: #fdecea; border-color: #f0b4ae; color: var(--bad); }
.notice.ok { background: #e8f5ec; border-color: #a8d5b5; color: var(--ok); }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: 999px; font-size: .82em; border: 1px solid var(--line); background: #eef1f5; }
.badge.known, .badge.granted, .badge.online, .badge.ok, .badge.active { background: #e3f3e8; border-color: #a8d5b5; color: var(--ok); }
.badge.unknown, .badge.degraded, .badge.connecting { background: #fff4dc; border-color: #e5c983; color: var(--warn); }
.badge.denied, .badge.offline, .badge.read-only, .badge.disabled { background: #fdecea; border-color: #f0b4ae; color: var(--bad); }
.muted { color: var(--muted); }
.row { display: flex; gap: 1rem; flex-wrap: wrap; align-items: flex-start; }
.row > .card { flex: 1 1 320px; }
.dropzone { display: block; border: 2px dashed #aab3c0; border-radius: 6px; padding: 1.2rem; text-align: center; background: #fff; }
.dropzone.over { border-color: var(--accent); background: #eef4ff; }
.pager { display: flex; gap: .6rem; margin-top: .8rem; }
.snapshot { width: 100%; border-radius: 4px; background: #111; aspect-ratio: 16 / 9; object-fit: contain; }
.signin { max-width: 420px; margin: 8vh auto; }
.signin label { margin-top: .7rem; }
.signin input { width: 100%; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
`;

export const CONSOLE_JS = `
'use strict';
// Snapshots: every img[data-refresh] reloads every N seconds (a fresh query string defeats caches).
for (const img of document.querySelectorAll('img[data-refresh]')) {
  const every = Number(img.dataset.refresh) * 1000;
  const base = img.getAttribute('src').split('?')[0];
  setInterval(() => { img.src = base + '?t=' + Date.now(); }, every);
}
// Drop zones: photos dropped on the label go into its file input, and their names are listed.
for (const zone of document.querySelectorAll('.dropzone')) {
  const input = zone.querySelector('input[type=file]');
  const list = zone.querySelector('[data-files]');
  const show = () => { if (list) list.textContent = Array.from(input.files).map((f) => f.name).join(', '); };
  input.addEventListener('change', show);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('over'); input.files = e.dataTransfer.files; show(); });
}
// Forms that destroy something ask first (data-confirm holds the question).
for (const form of document.querySelectorAll('form[data-confirm]')) {
  form.addEventListener('submit', (e) => { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
}
`;
