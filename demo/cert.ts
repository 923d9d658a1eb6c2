// A self-signed certificate for the demo's HTTPS mode (DEMO_HTTPS=1, npm run start:h2),
// made with the openssl command line on first use and cached outside the repository, in
// the OS temp directory (wsgate-demo-cert/), for 30 days. Browsers warn about it: it is
// for trying the demo on localhost, never for anything else.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DAYS = 30;

export interface DemoCert {
  key: string;
  cert: string;
  /** Where it is cached. */
  dir: string;
  /** True when it was made now (not read from the cache). */
  fresh: boolean;
}

export function demoCert(dir = path.join(os.tmpdir(), 'wsgate-demo-cert')): DemoCert {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  try {
    const age = Date.now() - fs.statSync(certFile).mtimeMs;
    // Renewed a day before it expires.
    if (age < (DAYS - 1) * 86400_000) {
      return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), dir, fresh: false };
    }
  } catch {
    // Not cached yet.
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', String(DAYS), '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 },
  );
  fs.chmodSync(keyFile, 0o600);
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), dir, fresh: true };
}
