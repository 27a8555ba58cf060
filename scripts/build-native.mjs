// Builds the native part of the package in the current directory with node-gyp, against
// the headers of the running Node when they are installed (so nothing is downloaded).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// Resolve node-gyp from the package being built (it lists node-gyp in devDependencies).
const require = createRequire(join(process.cwd(), 'package.json'));
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const prefix = dirname(dirname(process.execPath));
const env = { ...process.env };
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
  env.npm_config_nodedir = prefix;
}
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--loglevel=warn'], {
  stdio: 'inherit',
  env,
});
if (r.status !== 0) {
  console.error(`build-native: node-gyp failed in ${process.cwd()} (exit ${r.status}).`);
  console.error(
    '  It needs python3, make, a C compiler and Node headers (include/node beside node).',
  );
  process.exit(r.status ?? 1);
}
