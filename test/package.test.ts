// The built package as users load it: require('wsgate') and import { ... } from 'wsgate', its
// types as TypeScript consumers resolve them, and what `npm pack` would publish.
// `npm test` builds first; these tests run node, tsc, npm and attw in child processes against dist/.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');
const built = existsSync(path.join(root, 'dist', 'index.js'));
const maybe = built ? describe : describe.skip;
if (!built) console.warn('package.test.ts skipped: run `npm run build` first (npm test does)');

// The one list of entries, from the build script that writes their ESM wrappers and types.
const build = require('../scripts/build.js') as {
  ENTRIES: { name: string; subpath: string }[];
  exportsMismatches: (pkg: unknown) => string[];
};
/** Entries whose source exists (the others are skipped by the build, with a warning). */
const entries = build.ENTRIES.filter((e) => existsSync(path.join(root, 'src', `${e.name}.ts`)));
const missing = build.ENTRIES.filter((e) => !entries.includes(e));
if (missing.length > 0) console.warn(`package.test.ts: no source yet for ${missing.map((e) => e.subpath).join(', ')}; not checked`);
/** The import specifier of an entry: 'wsgate', 'wsgate/protocol', ... */
const specifier = (subpath: string): string => (subpath === '.' ? 'wsgate' : `wsgate${subpath.slice(1)}`);

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
}

/** npm with its JSON output; scripts off, so that packing never rebuilds dist/ under the tests. */
function npmJson<T>(args: string[]): T {
  const out = execFileSync('npm', [...args, '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as T;
}

maybe('the built package', () => {
  test("require('wsgate') gives the API", () => {
    const out = node(['-e', "const w = require('wsgate'); console.log(typeof w.attachWebSocket, w.computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='))"]);
    expect(out).toBe('function s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test("import { attachWebSocket } from 'wsgate' works from ESM", () => {
    const out = node([
      '--input-type=module',
      '-e',
      "import { attachWebSocket, WebSocket } from 'wsgate'; import def from 'wsgate'; console.log(typeof attachWebSocket, typeof WebSocket, def.attachWebSocket === attachWebSocket)",
    ]);
    expect(out).toBe('function function true');
  });

  test.each(entries.map((e) => [specifier(e.subpath)]))('%s: import gives the same named exports, one module state, as require', (spec) => {
    const script = [
      "import { createRequire } from 'node:module';",
      `import * as esm from '${spec}';`,
      `const cjs = createRequire(import.meta.url)('${spec}');`,
      "const names = Object.keys(cjs).filter((n) => n !== '__esModule');",
      "const same = names.every((n) => esm[n] === cjs[n]) && esm.default === cjs;",
      "const extra = Object.keys(esm).filter((n) => n !== 'default' && !names.includes(n));",
      'console.log(JSON.stringify({ count: names.length, same, extra }));',
    ].join('\n');
    const result = JSON.parse(node(['--input-type=module', '-e', script])) as { count: number; same: boolean; extra: string[] };
    expect(result).toEqual({ count: result.count, same: true, extra: [] });
    expect(result.count).toBeGreaterThan(0);
  });

  test.each(entries.map((e) => [e.name]))('dist/%s has its CommonJS and ESM code and types', (name) => {
    for (const ext of ['.js', '.d.ts', '.mjs', '.d.mts']) expect(existsSync(path.join(root, 'dist', name + ext))).toBe(true);
  });

  test('package.json "exports" lists every entry of the build, with import and require types', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as unknown;
    expect(build.exportsMismatches(pkg)).toEqual([]);
  });

  // Type-checks small consumers the way users compile them, against dist/, with the package
  // linked into node_modules as an install would put it.
  const hasProtocol = entries.some((e) => e.name === 'protocol');
  const consumer = (kind: 'esm' | 'cjs'): string =>
    [
      "import http from 'node:http';",
      "import { attachWebSocket, type WebSocket, computeAcceptKey } from 'wsgate';",
      ...(kind === 'esm' ? ["import wsgate from 'wsgate';", 'const viaDefault: typeof attachWebSocket = wsgate.attachWebSocket;', 'void viaDefault;'] : []),
      // Under node16 this also proves the subpath resolves, to types of the right module kind.
      ...(hasProtocol ? ["import * as protocol from 'wsgate/protocol';", 'const protocolNames: string[] = Object.keys(protocol);', 'void protocolNames;'] : []),
      'const server = http.createServer();',
      'const endpoint = attachWebSocket(server, (socket: WebSocket, req) => {',
      '  const room: string | string[] | undefined = req.params.room;',
      "  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));",
      '  void room;',
      '  // Params typed from the literal path (test/types pins the rest against the source).',
      '  socket.subscribe(req.params.room);',
      "}, { path: '/rooms/:room', maxPayload: 1024 });",
      "attachWebSocket(server, (_socket, req) => { const path: string[] = req.params.path; void path; }, { path: '/files/*path' });",
      '// @ts-expect-error an Express 4 pattern',
      "attachWebSocket(server, () => {}, { path: '/rooms/:room?' });",
      'const n: number = endpoint.clients.size;',
      "const key: string = computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ==');",
      '// @ts-expect-error maxPayload is a number',
      "attachWebSocket(server, () => {}, { maxPayload: 'big' });",
      'export { n, key };',
      '',
    ].join('\n');
  test.each([
    ['ESM (node16)', 'consumer.mts', 'esm', ['--module', 'node16', '--moduleResolution', 'node16']],
    ['ESM (nodenext)', 'consumer.mts', 'esm', ['--module', 'nodenext', '--moduleResolution', 'nodenext']],
    ['CommonJS (node16)', 'consumer.cts', 'cjs', ['--module', 'node16', '--moduleResolution', 'node16']],
    ['CommonJS (node10)', 'consumer.ts', 'cjs', ['--module', 'commonjs', '--moduleResolution', 'node10']],
  ] as const)('TypeScript %s consumers get the types', (_name, file, kind, flags) => {
    const dir = mkdtempSync(path.join(root, '.consumer-'));
    try {
      writeFileSync(path.join(dir, file), consumer(kind));
      mkdirSync(path.join(dir, 'node_modules'));
      symlinkSync(root, path.join(dir, 'node_modules', 'wsgate'), 'dir');
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', ...flags, path.join(dir, file)], {
        cwd: root,
        encoding: 'utf8',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface PackResult {
  filename: string;
  files: { path: string }[];
}

maybe('what npm pack publishes', () => {
  test('the file list: dist/ without source maps, README, LICENSE, CHANGELOG and package.json', () => {
    const [pack] = npmJson<PackResult[]>(['pack', '--dry-run']);
    const files = pack.files.map((f) => f.path);
    for (const top of ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']) expect(files).toContain(top);
    for (const { name } of entries) {
      for (const ext of ['.js', '.d.ts', '.mjs', '.d.mts']) expect(files).toContain(`dist/${name}${ext}`);
    }
    const unexpected = files.filter((f) => !f.startsWith('dist/') && !['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'].includes(f));
    expect(unexpected).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => /^(src|test|bench|scripts|demo)\//.test(f))).toEqual([]);
  });

  describe('the packed tarball', () => {
    let dir: string;
    let tarball: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'wsgate-pack-'));
      const [pack] = npmJson<PackResult[]>(['pack', '--pack-destination', dir]);
      tarball = path.join(dir, pack.filename);
    }, 60_000);
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('its package.json has no install-time script', () => {
      const shipped = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as {
        scripts?: Record<string, string>;
      };
      const lifecycle = ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare'];
      expect(Object.keys(shipped.scripts ?? {}).filter((s) => lifecycle.includes(s))).toEqual([]);
    });

    // @arethetypeswrong/cli: each entry's types resolve, under node10, node16 (from CJS and from
    // ESM) and bundler, to declarations of the same module kind as the JavaScript they describe.
    test('attw finds no problem in any entry', () => {
      const attw = path.join(root, 'node_modules', '.bin', 'attw');
      // Exit status 1 means "problems found"; the JSON says which.
      const run = spawnSync(attw, [tarball, '--format', 'json'], { cwd: root, encoding: 'utf8' });
      expect(run.error).toBeUndefined();
      const report = JSON.parse(run.stdout) as {
        analysis: {
          entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }>;
          problems: { kind: string; entrypoint?: string; resolutionKind?: string }[];
        };
      };
      const problems = report.analysis.problems;
      const checked = new Set(entries.map((e) => e.subpath));
      // A problem tied to no entrypoint concerns the whole package: always a failure.
      expect(problems.filter((p) => p.entrypoint === undefined || checked.has(p.entrypoint))).toEqual([]);
      for (const { name, subpath } of entries) {
        const resolved = report.analysis.entrypoints[subpath]?.resolutions ?? {};
        expect([subpath, resolved['node16-esm']?.resolution?.fileName]).toEqual([subpath, `/node_modules/wsgate/dist/${name}.d.mts`]);
        expect([subpath, resolved['node16-cjs']?.resolution?.fileName]).toEqual([subpath, `/node_modules/wsgate/dist/${name}.d.ts`]);
        expect([subpath, resolved.node10?.resolution?.fileName]).toEqual([subpath, `/node_modules/wsgate/dist/${name}.d.ts`]);
      }
    }, 60_000);
  });
});
