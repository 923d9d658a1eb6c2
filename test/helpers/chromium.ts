// Debian's Chromium for the browser tests, driven by playwright-core: never a downloaded
// browser. Required under CI (a missing binary fails the suite), skipped with a message
// elsewhere. Each launch gets a fresh user-data dir, removed again by close().
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);

/** `describe` when Chromium is there; under CI without it, one failing test instead. */
export function describeChromium(file: string): jest.Describe {
  if (!haveChromium && process.env.CI) {
    test('Chromium is installed for the browser tests', () => {
      throw new Error(`${CHROMIUM} is missing; .ci/run installs it with apt-get install chromium`);
    });
  } else if (!haveChromium) {
    console.warn(`${file}: SKIPPED, ${CHROMIUM} not found (apt-get install chromium to run it)`);
  }
  return haveChromium ? describe : describe.skip;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless, no sandbox (root), no background networking: this machine has no network. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
      ...extraArgs,
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
