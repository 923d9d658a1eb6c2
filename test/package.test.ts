// The built package as users load it: require('wsgate') and import { ... } from 'wsgate'.
// `npm test` builds first; these tests run node in a child process against dist/.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
});
