// The committed WebAssembly bytes are what the .wat sources beside them assemble to.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { render, target } = require('../../scripts/build-wasm.js') as { render: () => Promise<string>; target: string };

test('src/core/wasm/binaries.ts matches the .wat files (node scripts/build-wasm.js regenerates it)', async () => {
  expect(await render()).toBe(readFileSync(target, 'utf8'));
  expect(target).toBe(join(__dirname, '..', '..', 'src', 'core', 'wasm', 'binaries.ts'));
});
