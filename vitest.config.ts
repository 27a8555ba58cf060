import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import every @halfopen/* package from its source; test/exports.test.ts proves the
// built output separately.
const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const alias = Object.fromEntries(
  readdirSync(packagesDir).map((name) => [
    `@halfopen/${name}`,
    `${packagesDir}${name}/src/index.ts`,
  ]),
);
const tiers = ['prop', 'fault', 'int', 'hostile'].map((t) => `**/*.${t}.test.ts`);
const everywhere = (pattern: string) => [
  `bench/**/${pattern}`,
  `packages/*/test/**/${pattern}`,
  `test/**/${pattern}`,
  `examples/**/${pattern}`,
];

export default defineConfig({
  resolve: { alias },
  test: {
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: everywhere('*.test.ts'),
          exclude: ['**/node_modules/**', ...tiers],
        },
      },
      {
        extends: true,
        test: {
          name: 'property',
          include: everywhere('*.prop.test.ts'),
          setupFiles: ['test/setup/fast-check.ts'],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // Arbitrary options and throwing / never-settling callbacks: a named option error or
          // the documented behaviour, never a crash, a hang, a negative counter or a leak.
          name: 'hostile',
          include: everywhere('*.hostile.test.ts'),
          setupFiles: ['test/setup/fast-check.ts'],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'fault',
          include: everywhere('*.fault.test.ts'),
          globalSetup: ['test/setup/require-fault.ts'],
          // Tests enter network namespaces on the process's loop thread: one file at a time.
          fileParallelism: false,
          testTimeout: 90_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: everywhere('*.int.test.ts'),
          globalSetup: ['test/setup/require-int.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
        },
      },
    ],
  },
});
