import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Docs that cannot rot: every fenced js/ts block in every README and in docs/ is run, as a
// user would paste it into a file, against the built packages (this folder depends on all of
// them). A block opts out only with a visible first line and a reason:
//   // not run: <reason>       typechecked (tsc, strict) but not run, e.g. it needs a server
//   // not checked: <reason>   neither (a fragment that is not code on its own)
// A run must exit 0 within its time limit (close what you open). Every fence names its language
// (```text for output), so a code block cannot escape by leaving it out.
// While editing one file: DOCS=packages/reaper npx vitest run --project unit examples/docs.test.ts
// checks only the Markdown files whose path contains that string.
const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'examples/.snippets');
const LANGS: Record<string, 'js' | 'ts'> = {
  js: 'js',
  javascript: 'js',
  mjs: 'js',
  ts: 'ts',
  typescript: 'ts',
};

function markdownFiles(): string[] {
  const files = [
    join(root, 'README.md'),
    join(root, 'examples/README.md'),
    join(root, 'bench/README.md'),
  ];
  for (const d of readdirSync(join(root, 'packages'))) {
    const f = join(root, 'packages', d, 'README.md');
    if (existsSync(f)) files.push(f);
  }
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.md')) files.push(join(dir, e.name));
    }
  };
  walk(join(root, 'docs'));
  const only = process.env.DOCS;
  return files.filter((f) => existsSync(f) && (!only || relative(root, f).includes(only)));
}

interface Block {
  file: string;
  line: number;
  lang: 'js' | 'ts';
  code: string;
  mode: 'run' | 'typecheck' | 'none';
  reason: string;
}

/** Fences opened without a language (`file:line`): a js block written as a bare fence would go unchecked. */
const untagged: string[] = [];

function blocks(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```\s*([\w-]*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    if (!open[2]) untagged.push(`${relative(root, file)}:${i + 1}`);
    const end = lines.findIndex((l, j) => j > i && /^\s*```\s*$/.test(l));
    const body = lines.slice(i + 1, end < 0 ? lines.length : end);
    const lang = LANGS[(open[2] ?? '').toLowerCase()];
    if (lang) {
      const first = /^\s*\/\/\s*not (run|checked):\s*(.*)$/.exec(body[0] ?? '');
      found.push({
        file,
        line: i + 1,
        lang,
        code: body.join('\n'),
        mode: !first ? 'run' : first[1] === 'run' ? 'typecheck' : 'none',
        reason: first?.[2]?.trim() ?? '',
      });
    }
    i = end < 0 ? lines.length : end;
  }
  return found;
}

const all = markdownFiles().flatMap(blocks);
const name = (b: Block) => `${relative(root, b.file)}:${b.line}`;
const fileFor = (b: Block, i: number) =>
  join(
    out,
    `${relative(root, b.file).replace(/[^\w]+/g, '-')}-${b.line}-${i}.${b.lang === 'ts' ? 'mts' : 'mjs'}`,
  );

describe('code blocks in the docs', () => {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = all.map((b, i) => {
    const f = fileFor(b, i);
    writeFileSync(f, `${b.code}\n`);
    return f;
  });

  it('exist, and each one that opts out says why', () => {
    expect(all.length).toBeGreaterThan(0);
    expect(untagged).toEqual([]);
    const silent = all.filter((b) => b.mode !== 'run' && b.reason.length < 8).map(name);
    expect(silent).toEqual([]);
  });

  it('typecheck (every block that is not marked "not checked")', () => {
    const checked = files.filter((_, i) => all[i]?.mode !== 'none');
    writeFileSync(
      join(out, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          lib: ['es2023', 'esnext.disposable'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          // A block shows a call, not a whole typed program: untyped parameters are fine.
          noImplicitAny: false,
          noEmit: true,
          allowJs: true,
          checkJs: true,
          skipLibCheck: true,
          types: ['node'],
          // Each block is its own program as far as names go.
          moduleDetection: 'force',
        },
        files: checked.map((f) => relative(out, f)),
      }),
    );
    const r = spawnSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(out, 'tsconfig.json')],
      { cwd: out, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toBe('');
  }, 120_000);

  const runnable = all
    .map((b, i) => ({ b, f: files[i] as string }))
    .filter(({ b }) => b.mode === 'run');
  it.each(runnable.map(({ b, f }) => [name(b), f] as const))(
    '%s runs and exits 0',
    (_, f) => {
      const args = f.endsWith('.mts') ? ['--import', 'tsx', f] : [f];
      const r = spawnSync(process.execPath, args, { cwd: out, encoding: 'utf8', timeout: 20_000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
        status: 0,
        signal: null,
        stderr: expect.any(String),
      });
    },
    30_000,
  );
});
