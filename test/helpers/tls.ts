// A self-signed certificate for 127.0.0.1 and localhost, made at test time with the openssl
// command line (Debian ships it), once per test process. Clients trust it by being given
// `ca: cert` (or by rejectUnauthorized: false).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCert {
  key: string;
  cert: string;
}

let made: TestCert | undefined;

export function testCert(): TestCert {
  if (made) return made;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-addext', 'basicConstraints=critical,CA:TRUE',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 },
    );
    made = { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
    return made;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
