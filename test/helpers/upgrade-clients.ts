// Clients for upgrade tests: `ws` clients that report the first message or the refusal,
// and raw handshakes that capture the exact bytes of a refusal. All closed by closeAll().
import WebSocketClient from 'ws';
import { handshakeRequest, RawClient } from './raw-client';

export interface Refusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A parsed HTTP response read from raw bytes; `rest` is whatever came after its body. */
export interface RawResponse {
  statusLine: string;
  headers: Record<string, string>;
  body: string;
  rest: Buffer;
}

/** Splits one Content-Length framed response off the bytes a RawClient received. */
export function parseRawResponse(bytes: Buffer): RawResponse {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(bytes.toString('latin1'))}`);
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (name in headers) throw new Error(`header ${name} appears twice`);
    headers[name] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const bodyStart = end + 4;
  return {
    statusLine: lines[0],
    headers,
    body: bytes.subarray(bodyStart, bodyStart + length).toString(),
    rest: bytes.subarray(bodyStart + length),
  };
}

export class UpgradeClients {
  private readonly clients = new Set<{ terminate(): void }>();

  constructor(private readonly port: () => number) {}

  /** Opens a `ws` client and resolves with it and the server's first message (parsed JSON when it is JSON). */
  async open(
    path: string,
    protocols?: string | string[],
    options: WebSocketClient.ClientOptions = {},
  ): Promise<{ client: WebSocketClient; first: any }> {
    const client = new WebSocketClient(`ws://127.0.0.1:${this.port()}${path}`, protocols, options);
    this.clients.add(client);
    client.on('error', () => {}); // terminate() while connecting emits one
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no first message from ${path}`)), 5000);
      client.once('message', (data) => {
        clearTimeout(timer);
        const text = data.toString();
        let first: unknown = text;
        try {
          first = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ client, first });
      });
      client.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`refused with ${res.statusCode}`));
        res.resume();
      });
      client.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Expects the `ws` client to be refused; resolves with the HTTP response it got instead. */
  refused(path: string, protocols?: string | string[], options: WebSocketClient.ClientOptions = {}): Promise<Refusal> {
    const client = new WebSocketClient(`ws://127.0.0.1:${this.port()}${path}`, protocols, options);
    this.clients.add(client);
    client.on('error', () => {}); // terminate() while connecting emits one
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no refusal from ${path}`)), 5000);
      client.once('open', () => {
        clearTimeout(timer);
        reject(new Error(`${path} was accepted`));
      });
      client.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      client.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      });
    });
  }

  /** Sends a handshake over raw TCP and resolves once the server has ended the connection. */
  async raw(path: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const client = await this.rawConnect(path, headers);
    await client.waitClosed();
    return client;
  }

  /** Sends a handshake over raw TCP and resolves right away. */
  async rawConnect(path: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const client = await RawClient.connect(this.port());
    this.clients.add({ terminate: () => client.destroy() });
    client.write(handshakeRequest(path, headers, this.port()));
    return client;
  }

  closeAll(): void {
    for (const c of this.clients) c.terminate();
    this.clients.clear();
  }
}
