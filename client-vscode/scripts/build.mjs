// Bundles the extension (dist/extension.js) or the unit tests (out/test/*.test.js) with esbuild.
// Type checking is `tsc --noEmit` (npm run typecheck); esbuild only strips types, fast.
//   node scripts/build.mjs               development bundle with source maps
//   node scripts/build.mjs --production  minified, what the vsix ships
//   node scripts/build.mjs --tests       each src/test/*.test.ts bundled for `node --test`
//   node scripts/build.mjs --watch
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const production = args.has('--production');

if (args.has('--tests')) {
  const dir = join(root, 'src', 'test');
  const entries = readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f));
  rmSync(join(root, 'out'), { recursive: true, force: true });
  await esbuild.build({
    entryPoints: entries,
    outdir: join(root, 'out', 'test'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    // The pure modules under test must not need VS Code: a `vscode` import fails the build.
    external: [],
    logLevel: 'warning',
  });
} else {
  const options = {
    entryPoints: [join(root, 'src', 'extension.ts')],
    outfile: join(root, 'dist', 'extension.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    minify: production,
    sourcemap: !production,
    logLevel: 'warning',
  };
  if (args.has('--watch')) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log('watching…');
  } else {
    rmSync(join(root, 'dist'), { recursive: true, force: true });
    await esbuild.build(options);
  }
}
