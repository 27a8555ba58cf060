// The incident lab: runs every examples/<incident>/scenario.mjs, naive and guarded, shows
// progress, prints what each suffered and survived, and exits non-zero when a guarded run did
// not survive. `--report [file]` also writes one self-contained HTML page (inline SVG, no
// scripts, no network), default demo-report.html: per incident, the scenario's metric over time
// for the naive and the guarded run (each run returns `series`: [seconds, value] samples).
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { html } from './report.mjs';

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
  if (r.balancer) console.log(`  behind a load balancer: ${r.balancer.summary}`);
}
console.log(
  `\n${rows.length - failed}/${rows.length} guarded runs survived (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);

if (reportFile) {
  writeFileSync(reportFile, html(rows));
  console.log(`report: ${reportFile}`);
}
process.exit(failed > 0 ? 1 : 0);
