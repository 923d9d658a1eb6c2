// The built package as users load it: require('wsgate') and import { ... } from 'wsgate'.
// `npm test` builds first; these tests run node in a child process against dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..');
const built = existsSync(path.join(root, 'dist', 'index.js'));
const maybe = built ? describe : describe.skip;
if (!built) console.warn('package.test.ts skipped: run `npm run build` first (npm test does)');

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
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

  test('ships type declarations', () => {
    expect(existsSync(path.join(root, 'dist', 'index.d.ts'))).toBe(true);
  });

  // Type-checks small consumers the way users compile them, against dist/, with the package
  // linked into node_modules as an install would put it.
  test.each([
    ['ESM (node16)', 'consumer.mts', ['--module', 'node16', '--moduleResolution', 'node16']],
    ['CommonJS', 'consumer.ts', ['--module', 'commonjs', '--moduleResolution', 'node10']],
  ])('TypeScript %s consumers get the types', (_name, file, flags) => {
    const dir = mkdtempSync(path.join(root, '.consumer-'));
    try {
      const source = [
        "import http from 'node:http';",
        "import { attachWebSocket, type WebSocket, computeAcceptKey } from 'wsgate';",
        'const server = http.createServer();',
        "const endpoint = attachWebSocket(server, (socket: WebSocket, req) => {",
        "  const room: string | string[] | undefined = req.params.room;",
        "  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));",
        '  void room;',
        "}, { path: '/rooms/:room', maxPayload: 1024 });",
        'const n: number = endpoint.clients.size;',
        "const key: string = computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ==');",
        '// @ts-expect-error maxPayload is a number',
        "attachWebSocket(server, () => {}, { maxPayload: 'big' });",
        'export { n, key };',
        '',
      ].join('\n');
      writeFileSync(path.join(dir, file), source);
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
