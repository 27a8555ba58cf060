import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
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

/** Every README.md in the repository (not in node_modules, build output or dot folders), and every .md under docs/. */
function markdownFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string, all: boolean): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!/^(\.|node_modules$|dist$|coverage$)/.test(e.name))
          walk(p, all || p === join(root, 'docs'));
      } else if (e.name === 'README.md' || (all && e.name.endsWith('.md'))) files.push(p);
    }
  };
  walk(root, false);
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
const untaggedFences: string[] = [];

function blocks(
  file: string,
  text = readFileSync(file, 'utf8'),
  untagged = untaggedFences,
): Block[] {
  const lines = text.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    // Fences: ``` or ~~~ (3 or more; closed by the same, at least as long), then the language,
    // then anything (`js title=x`). A block indented in a list is dedented.
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '', info = ''] = open;
    if (!info) untagged.push(`${relative(root, file)}:${i + 1}`);
    const closing = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const end = lines.findIndex((l, j) => j > i && closing.test(l));
    const body = lines
      .slice(i + 1, end < 0 ? lines.length : end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()));
    const lang = LANGS[info.toLowerCase()];
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

const all = markdownFiles().flatMap((f) => blocks(f));
const name = (b: Block) => `${relative(root, b.file)}:${b.line}`;
const fileFor = (b: Block, i: number) =>
  join(
    out,
    `${relative(root, b.file).replace(/[^\w]+/g, '-')}-${b.line}-${i}.${b.lang === 'ts' ? 'mts' : 'mjs'}`,
  );

/**
 * Blocks are checked against the built packages, as a user gets them: a package a block imports
 * must be built, and built after its last source change, or the blocks would pass or fail
 * against code that is not there any more.
 */
function unbuilt(): string[] {
  const imported = new Set(
    all.flatMap((b) =>
      [...b.code.matchAll(/['"]@halfopen\/([\w-]+)['"]/g)].map((m) => m[1] as string),
    ),
  );
  const newest = (dir: string): { file: string; t: number } => {
    let best = { file: dir, t: 0 };
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const f = join(e.parentPath, e.name);
      const t = statSync(f).mtimeMs;
      if (t > best.t) best = { file: f, t };
    }
    return best;
  };
  const problems: string[] = [];
  for (const pkg of imported) {
    const dist = join(root, 'packages', pkg, 'dist/index.js');
    if (!existsSync(dist)) {
      problems.push(`@halfopen/${pkg} is not built (no ${relative(root, dist)})`);
      continue;
    }
    const src = newest(join(root, 'packages', pkg, 'src'));
    if (src.t > statSync(dist).mtimeMs)
      problems.push(`@halfopen/${pkg}: ${relative(root, src.file)} is newer than its build`);
  }
  return problems;
}

describe('code blocks in the docs', () => {
  it('are checked against up-to-date builds of what they import (run `pnpm build` first)', () => {
    expect(unbuilt()).toEqual([]);
  });

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = all.map((b, i) => {
    const f = fileFor(b, i);
    writeFileSync(f, `${b.code}\n`);
    return f;
  });

  it('are all found, whatever the fence (a check of the extractor itself)', () => {
    const md = [
      '```js',
      'a()',
      '```',
      '~~~ts',
      '// not run: it needs a ZooKeeper',
      'b()',
      '~~~',
      '```js title="x.js"',
      'c()',
      '```',
      '- a list item:',
      '',
      '  ```js',
      '  d()',
      '  ```',
      '````md',
      '```js',
      'not a block of its own',
      '```',
      '````',
      '```sh',
      'e',
      '```',
      '```',
      'f()',
      '```',
    ].join('\n');
    const bare: string[] = [];
    const found = blocks(join(root, 'x.md'), md, bare);
    expect(found.map((b) => [b.line, b.lang, b.mode, b.code])).toEqual([
      [1, 'js', 'run', 'a()'],
      [4, 'ts', 'typecheck', '// not run: it needs a ZooKeeper\nb()'],
      [8, 'js', 'run', 'c()'],
      [13, 'js', 'run', 'd()'],
    ]);
    expect(bare).toEqual(['x.md:24']);
  });

  it('exist, and each one that opts out says why', () => {
    expect(all.length).toBeGreaterThan(0);
    expect(untaggedFences).toEqual([]);
    const silent = all.filter((b) => b.mode !== 'run' && b.reason.length < 8).map(name);
    expect(silent).toEqual([]);
  });

  it('typecheck (every block that is not marked "not checked")', () => {
    const checked = files.filter((_, i) => all[i]?.mode !== 'none');
    // Nothing to check happens only with a DOCS filter on pages without blocks (tsc refuses an
    // empty program); with no block at all, the test above fails.
    if (checked.length === 0) return;
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
