/**
 * The public surface (issue 18): `package.json` `exports` names what embedding code may
 * import, and only that. The package is built the way `npm run build` builds it (into a
 * temporary outDir), installed by symlink into a temporary application, and used from
 * there: by `require`, by `import`, and by TypeScript with `moduleResolution: node16`,
 * which are the three ways an embedder meets the exports map.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';

const repo = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  name: string;
  main?: string;
  types?: string;
  files?: string[];
  exports?: unknown;
  bin?: Record<string, string>;
};

/** What `require('gatehouse-router')` gives: change this list only on purpose. */
const RUNTIME_EXPORTS = ['ApplicationError', 'Errors', 'Router', 'RouterError', 'dashboardRouter'];
/** What TypeScript sees (values and types); the README's Embedding section uses these. */
const TYPE_EXPORTS = [
  ...RUNTIME_EXPORTS,
  'ClientCertificate',
  // RouterOptions.clock: what an embedder's (or a test's) clock implements
  'Clock',
  'Config',
  'DashboardOptions',
  'Listener',
  'RouterOptions',
  'Timer',
  'TlsOptions',
  'TransportInfo',
  'WebSocketEndpointOptions',
].sort();

test('package.json - exports names the entry point (types first) and package.json, nothing deeper', () => {
  assert.deepEqual(pkg.exports, {
    '.': { types: './dist/index.d.ts', default: './dist/index.js' },
    './package.json': './package.json',
  });
  // tools that predate exports read main/types: they must name the same files
  assert.equal(`./${pkg.main}`, './dist/index.js');
  assert.equal(`./${pkg.types}`, './dist/index.d.ts');
  // what exports points at is shipped by `npm pack`
  assert.ok(pkg.files?.includes('dist'), 'files must include dist');
});

let tmp = '';
let app = '';
const exec = promisify(execFile);

before(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-surface-'));
  const pkgDir = path.join(tmp, 'pkg');
  mkdirSync(pkgDir);
  copyFileSync(path.join(repo, 'package.json'), path.join(pkgDir, 'package.json'));
  // the package's own dependencies, as an install would place them
  symlinkSync(path.join(repo, 'node_modules'), path.join(pkgDir, 'node_modules'), 'dir');

  // `npm run build` is `tsc -p .`: the same project, into pkg/dist
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(repo, 'tsconfig.json'),
    { outDir: path.join(pkgDir, 'dist'), sourceMap: false },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    },
  );
  assert.ok(parsed);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const emitted = program.emit();
  assert.deepEqual(
    emitted.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    [],
  );

  app = path.join(tmp, 'app');
  mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'embedder', private: true }));
  symlinkSync(pkgDir, path.join(app, 'node_modules', pkg.name), 'dir');
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function runIn(dir: string, file: string, source: string): Promise<string> {
  writeFileSync(path.join(dir, file), source);
  const { stdout } = await exec(process.execPath, [file], { cwd: dir, timeout: 60_000 });
  return stdout.trim();
}

test('require - the entry point resolves through exports; deep paths are refused', async () => {
  const out = await runIn(
    app,
    'probe.cjs',
    `
const api = require('${pkg.name}');
const refused = [];
for (const deep of ['${pkg.name}/dist/lib/router', '${pkg.name}/dist/index.js', '${pkg.name}/lib/errors']) {
  try { require(deep); } catch (err) { if (err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') refused.push(deep); }
}
const meta = require('${pkg.name}/package.json');
(async () => {
  const router = new api.Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await router.start();
  await router.close();
  console.log(JSON.stringify({
    keys: Object.keys(api).sort(),
    internal: api.Errors.internal.code,
    routerError: new api.RouterError(api.Errors.timeout) instanceof Error,
    refused: refused.length,
    version: meta.version,
  }));
})().catch((err) => { console.error(err); process.exit(1); });
`,
  );
  assert.deepEqual(JSON.parse(out), {
    keys: RUNTIME_EXPORTS,
    internal: 'internal',
    routerError: true,
    refused: 3,
    version: JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).version,
  });
});

test('bin - the gatehouse command is the built CLI, shipped in dist, and runs from the installed package', async () => {
  const bin = pkg.bin?.gatehouse;
  assert.equal(bin, 'dist/lib/cli.js');
  assert.ok(
    pkg.files?.some((f) => bin.startsWith(`${f}/`)),
    'files must ship the bin',
  );
  const { stdout } = await exec(process.execPath, [path.join(tmp, 'pkg', bin), '--version'], { cwd: app, timeout: 60_000 });
  assert.equal(stdout.trim(), JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).version);
});

test('import - an ES module embedder gets the named exports', async () => {
  const out = await runIn(
    app,
    'probe.mjs',
    `import { Router, Errors, dashboardRouter } from '${pkg.name}';\nconsole.log([typeof Router, typeof Errors, typeof dashboardRouter].join(','));\n`,
  );
  assert.equal(out, 'function,object,function');
});

test('types - node16 resolution finds dist/index.d.ts through exports with the documented names', () => {
  const consumer = path.join(app, 'consumer.ts');
  const deep = path.join(app, 'deep.ts');
  writeFileSync(
    consumer,
    `import { Router, Errors, RouterError, type Config, type Listener } from '${pkg.name}';\n` +
      `export async function main(config: Partial<Config>): Promise<Listener> {\n` +
      `  const router = new Router(config);\n  if (!(new RouterError(Errors.timeout) instanceof Error)) throw new Error('unreachable');\n  return router.listenWAMP({ port: 0 });\n}\n`,
  );
  writeFileSync(deep, `import { RouterCore } from '${pkg.name}/dist/lib/router';\nexport const core = RouterCore;\n`);
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    types: ['node'],
    typeRoots: [path.join(repo, 'node_modules', '@types')],
  };
  const program = ts.createProgram({ rootNames: [consumer, deep], options });
  const problems = (file: string): string[] =>
    ts
      .getPreEmitDiagnostics(program, program.getSourceFile(file))
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.deepEqual(problems(consumer), []);
  // TS2307: cannot find module: the deep path is not exported
  assert.equal(problems(deep).length, 1, problems(deep).join('\n'));

  const checker = program.getTypeChecker();
  const resolved = ts.resolveModuleName(pkg.name, consumer, options, ts.sys).resolvedModule;
  assert.ok(resolved);
  assert.equal(path.relative(path.join(tmp, 'pkg'), resolved.resolvedFileName), path.join('dist', 'index.d.ts'));
  const entry = program.getSourceFile(resolved.resolvedFileName);
  assert.ok(entry);
  const moduleSymbol = checker.getSymbolAtLocation(entry);
  assert.ok(moduleSymbol);
  const names = checker
    .getExportsOfModule(moduleSymbol)
    .map((s) => s.name)
    .sort();
  assert.deepEqual(names, TYPE_EXPORTS);
});
