// The incident lab: runs every examples/<incident>/scenario.mjs, naive and guarded, and prints
// what each suffered and survived. Exits non-zero when a guarded run does not survive.
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dirs = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`${here}${d.name}/scenario.mjs`))
  .map((d) => d.name)
  .sort();
if (dirs.length === 0) {
  console.log('halfopen incident lab: no incident example is built yet (see examples/README.md).');
  process.exit(0);
}
const rows = [];
let failed = false;
for (const dir of dirs) {
  const { default: scenario } = await import(pathToFileURL(`${here}${dir}/scenario.mjs`).href);
  process.stdout.write(`- ${scenario.title} ...\n`);
  const r = await scenario.run({ progress: (msg) => process.stdout.write(`    ${msg}\n`) });
  rows.push({
    incident: scenario.title,
    naive: r.naive.summary,
    guarded: r.guarded.summary,
    by: scenario.primitive,
  });
  if (!r.guarded.survived) failed = true;
  if (!r.naive.suffered) console.log('    (the naive run did not show the failure this time)');
}
console.log('');
for (const r of rows) {
  console.log(
    `${r.incident}\n  naive:   ${r.naive}\n  guarded: ${r.guarded}\n  by:      ${r.by}\n`,
  );
}
process.exit(failed ? 1 : 0);
