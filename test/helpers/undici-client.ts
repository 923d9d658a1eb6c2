// undici's WHATWG WebSocket (the one Node ships) as a test client: records every event so
// none is missed between awaits, and closes whatever is still open in closeAll().
import { WebSocket as UndiciWebSocket } from 'undici';

type Init = ConstructorParameters<typeof UndiciWebSocket>[1];

export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** Rejects after `ms` unless `promise` settles first. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class UndiciClient {
  readonly ws: InstanceType<typeof UndiciWebSocket>;
  readonly messages: (string | ArrayBuffer)[] = [];
  /** Event types in the order they fired. */
  readonly events: string[] = [];
  private readonly opened: Promise<void>;
  private readonly closed: Promise<CloseInfo>;
  private wake: () => void = () => {};

  constructor(url: string, init?: Init) {
    this.ws = new UndiciWebSocket(url, init);
    this.ws.binaryType = 'arraybuffer';
    this.ws.addEventListener('open', () => this.events.push('open'));
    this.ws.addEventListener('error', () => this.events.push('error'));
    this.ws.addEventListener('message', (ev) => {
      this.messages.push(ev.data as string | ArrayBuffer);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener('close', (ev) => {
        this.events.push('close');
        resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
        this.wake();
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener('open', () => resolve());
      this.ws.addEventListener('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {}); // a refused handshake is awaited through closeEvent()
  }

  open(ms = 5000): Promise<void> {
    return within(this.opened, ms, 'open');
  }

  closeEvent(ms = 5000): Promise<CloseInfo> {
    return within(this.closed, ms, 'close');
  }

  /** Resolves once `count` messages have arrived in total. */
  async waitMessages(count: number, ms = 5000): Promise<(string | ArrayBuffer)[]> {
    const deadline = Date.now() + ms;
    while (this.messages.length < count) {
      if (this.events.includes('close')) throw new Error(`closed after ${this.messages.length}/${count} messages`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.messages.length}/${count} messages`);
      await within(new Promise<void>((resolve) => (this.wake = resolve)), left, 'messages').catch(() => {});
    }
    return this.messages.slice(0, count);
  }
}

const live = new Set<UndiciClient>();

/** Opens an undici client; it is closed by closeAllUndici(). */
export function undiciClient(url: string, init?: Init): UndiciClient {
  const client = new UndiciClient(url, init);
  live.add(client);
  return client;
}

/** Closes every client still open and waits (bounded) for their close events. */
export async function closeAllUndici(): Promise<void> {
  const all = [...live];
  live.clear();
  for (const c of all) if (c.ws.readyState < 2) c.ws.close();
  await Promise.all(all.map((c) => c.closeEvent(3000).catch(() => undefined)));
}
