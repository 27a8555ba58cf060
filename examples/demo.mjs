// The incident lab: runs every examples/<incident>/scenario.mjs, naive and guarded, shows
// progress, prints what each suffered and survived, and exits non-zero when a guarded run did
// not survive. `--report [file]` also writes one self-contained HTML page (inline SVG, no
// scripts, no network), default demo-report.html.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const at = process.argv.indexOf('--report');
const reportFile =
  at < 0
    ? undefined
    : process.argv[at + 1] && !process.argv[at + 1].startsWith('-')
      ? process.argv[at + 1]
      : 'demo-report.html';
const dirs = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`${here}${d.name}/scenario.mjs`))
  .map((d) => d.name)
  .sort();

const started = Date.now();
const rows = [];
for (const dir of dirs) {
  const { default: scenario } = await import(pathToFileURL(`${here}${dir}/scenario.mjs`).href);
  console.log(`- ${scenario.title} ...`);
  const t = Date.now();
  const r = await scenario.run({ progress: (msg) => console.log(`    ${msg}`) });
  rows.push({ scenario, r, seconds: (Date.now() - t) / 1000 });
}

console.log('\nincident | naive run suffered | guarded run | made the difference');
let failed = 0;
for (const { scenario, r } of rows) {
  const ok = r.guarded.survived;
  if (!ok) failed++;
  console.log(`\n${scenario.title}${ok ? '' : '   <- GUARDED RUN DID NOT SURVIVE'}`);
  console.log(
    `  naive:   ${r.naive.summary}${r.naive.suffered ? '' : ' (the naive run did not show the failure this time)'}`,
  );
  console.log(`  guarded: ${r.guarded.summary}`);
  console.log(`  by:      ${scenario.primitive}`);
}
console.log(
  `\n${rows.length - failed}/${rows.length} guarded runs survived (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);

if (reportFile) {
  writeFileSync(reportFile, html(rows));
  console.log(`report: ${reportFile}`);
}
process.exit(failed > 0 ? 1 : 0);

function esc(s) {
  return String(s).replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c],
  );
}

function chart(metric, naive, guarded) {
  const max = Math.max(naive, guarded, 1);
  const bar = (y, value, color, label) =>
    `<rect x="120" y="${y}" width="${Math.max(2, (360 * value) / max)}" height="28" fill="${color}"/>` +
    `<text x="110" y="${y + 19}" text-anchor="end">${label}</text>` +
    `<text x="${128 + Math.max(2, (360 * value) / max)}" y="${y + 19}">${value}${esc(metric.unit)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="560" height="110" role="img" aria-label="${esc(metric.label)}" font-family="sans-serif" font-size="13">
<text x="0" y="16" font-weight="bold">${esc(metric.label)} (${metric.better} is better)</text>
${bar(30, naive, '#c0392b', 'naive')}
${bar(70, guarded, '#27ae60', 'guarded')}
</svg>`;
}

function html(rows) {
  const sections = rows
    .map(({ scenario, r, seconds }) => {
      const m = scenario.metric;
      return `<section><h2>${esc(scenario.title)}</h2>
${m ? chart(m, m.of(r.naive), m.of(r.guarded)) : ''}
<p><b>Naive:</b> ${esc(r.naive.summary)}</p>
<p><b>Guarded:</b> ${esc(r.guarded.summary)} ${r.guarded.survived ? '(survived)' : '<b>(did not survive)</b>'}</p>
<p><b>Made the difference:</b> <code>${esc(scenario.primitive)}</code> &middot; ${seconds.toFixed(1)} s</p></section>`;
    })
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>halfopen incident lab</title>
<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;padding:0 1em}section{border-top:1px solid #ccc;padding:.5em 0}code{font-size:.9em}</style></head>
<body><h1>halfopen incident lab</h1><p>${esc(new Date().toISOString())}, Node ${esc(process.version)}. Each incident from INCIDENTS.md reproduced on loopback, naive and guarded.</p>
${sections}</body></html>
`;
}
