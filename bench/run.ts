// Runs every bench/**/*.bench.ts scenario (or those whose file or name matches argv[2]),
// prints a table per scenario, and writes the results as JSON under bench/results/ (a timestamped
// file for this run; latest.json merged by scenario).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Scenario, type ScenarioResult, score, table } from './harness.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2];
const files = (readdirSync(here, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.bench.ts') && !f.includes('node_modules'))
  .sort();

const results: ScenarioResult[] = [];
for (const file of files) {
  const scenarios = (await import(pathToFileURL(join(here, file)).href)).default as Scenario[];
  for (const s of scenarios) {
    if (filter && !file.includes(filter) && !s.name.includes(filter)) continue;
    const r = score(s, await s.run());
    results.push(r);
    console.log(`${table(r)}\n  (${relative(here, join(here, file))})\n`);
  }
}
if (results.length === 0) {
  console.error(`no benchmark scenario matched${filter ? ` "${filter}"` : ''}`);
  process.exit(1);
}
const report = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  results,
};
mkdirSync(join(here, 'results'), { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
writeFileSync(join(here, 'results', `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
// latest.json keeps the newest result of every scenario: a filtered run replaces only its own.
const latestFile = join(here, 'results', 'latest.json');
const previous: ScenarioResult[] = existsSync(latestFile)
  ? JSON.parse(readFileSync(latestFile, 'utf8')).results
  : [];
const merged = [
  ...previous.filter((p) => !results.some((r) => r.scenario === p.scenario)),
  ...results,
];
writeFileSync(latestFile, `${JSON.stringify({ ...report, results: merged }, null, 2)}\n`);
console.log(
  `${results.filter((r) => r.met).length}/${results.length} targets met; results in bench/results/latest.json`,
);
