import { defineConfig } from 'tsup';

// Every package builds the same way: ESM from src/index.ts, with declarations.
// The private core (@halfopen/internal) is bundled into each package, code and types, so
// users never install it.
export default defineConfig({
  entry: ['src/index.ts'],
  // ESM only: one module instance per process, also for require() (docs/modules.md).
  format: ['esm'],
  // Types: the path maps @halfopen/internal to its source, so the declaration bundler inlines
  // it like the package's own files (resolved through node_modules it would stay an import).
  dts: {
    compilerOptions: {
      baseUrl: '.',
      paths: { '@halfopen/internal': ['../internal/src/index.ts'] },
    },
  },
  noExternal: [/^@halfopen\/internal/],
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
  platform: 'node',
});
