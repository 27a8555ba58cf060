import { defineConfig } from 'tsup';

// Every package builds the same way: ESM and CJS from src/index.ts, with declarations.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
  platform: 'node',
});
