/**
 * The HTML page shell shared by the report and `mann visualize`: one self-contained file with
 * inline CSS, inline SVG, and a content security policy that forbids loading anything.
 */

import { CHART_FONT } from './charts.js';
import { escapeHtml } from './format.js';

/** Stylesheet of the pages: system fonts, readable measure, tables with aligned numbers. */
export const PAGE_CSS = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font-family: ${CHART_FONT}; font-size: 15px; line-height: 1.5; color: var(--fg); background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 32px 64px; }
header { margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 21px; margin: 40px 0 12px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 24px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; color: var(--muted); }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
nav ul { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
.table-wrap { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; text-align: left; }
th.num { text-align: right; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.note { color: var(--muted); font-size: 13px; max-width: 80ch; }
.charts { display: flex; flex-wrap: wrap; gap: 16px 32px; align-items: flex-start; }
figure { margin: 12px 0; max-width: 100%; overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.failed { border-left: 4px solid var(--bad); background: #fef3f2; padding: 8px 14px; margin: 12px 0; }
.failed h3 { margin: 0 0 4px; color: var(--bad); font-size: 15px; }
.failed ul { margin: 0; padding-left: 20px; }
.error { color: var(--bad); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.failed code.message { white-space: pre-wrap; word-break: break-word; }
`;

/** Forbids every fetch: the page must show the same offline as online. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** The tag that marks a page as written by mann (reports, memory pictures). */
export const GENERATOR_TAG = '<meta name="generator" content="mann">';

/** Whether `text` is a page written by {@link htmlPage} (so that rewriting it loses nothing). */
export function isMannPage(text: string): boolean {
  return text.startsWith('<!DOCTYPE html>') && text.slice(0, 400).includes(GENERATOR_TAG);
}

/** A complete HTML document titled `title` around `body` (already escaped markup). */
export function htmlPage(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
${GENERATOR_TAG}
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** A figure holding `svg`, with an optional caption. */
export function figure(svg: string, caption?: string): string {
  const figcaption = caption === undefined ? '' : `<figcaption>${escapeHtml(caption)}</figcaption>`;
  return `<figure>${svg}${figcaption}</figure>`;
}

/** An HTML id from free text: `associative recall` -> `associative-recall`. */
export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'section'
  );
}
