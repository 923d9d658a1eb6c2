// wss:// on https.createServer: an echo endpoint and an HTTPS route on one port.
// The certificate comes from TLS_KEY and TLS_CERT (file paths); without them, a self-signed
// one for localhost and 127.0.0.1 is made at start with the openssl command line.
//
//   npm run build && npx ts-node --transpile-only examples/tls/server.ts
//   (then a client that trusts the printed certificate file, or one with rejectUnauthorized: false)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { attachWebSocket } from 'wsgate';

export interface KeyPair {
  key: string;
  cert: string;
}

/** A self-signed certificate valid for a day, written to `dir` (key.pem, cert.pem). */
export function selfSignedCert(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-example-tls-'))): KeyPair & { certFile: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile };
}

export function createTlsEcho(tls: KeyPair) {
  const server = https.createServer(tls, (_req, res) => res.end('hello over https\n'));
  const endpoint = attachWebSocket(server, (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  }, { path: '/echo' });
  return { server, endpoint };
}

if (require.main === module) {
  let tls: KeyPair;
  if (process.env.TLS_KEY && process.env.TLS_CERT) {
    tls = { key: fs.readFileSync(process.env.TLS_KEY, 'utf8'), cert: fs.readFileSync(process.env.TLS_CERT, 'utf8') };
  } else {
    const made = selfSignedCert();
    tls = made;
    console.log(`self-signed certificate: ${made.certFile}`);
  }
  const { server, endpoint } = createTlsEcho(tls);
  server.listen(Number(process.env.PORT ?? 8443), process.env.HOST ?? 'localhost', () => {
    const { address, port } = server.address() as AddressInfo;
    console.log(`tls echo listening on https://${address}:${port} (WebSocket wss://…/echo)`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void endpoint.close().then(() => process.exit(0));
  });
}
