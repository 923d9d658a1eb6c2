// permessage-deflate payloads made and read by hand (RFC 7692 7.2), for raw-client tests.
import * as zlib from 'node:zlib';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One message compressed with a fresh context: raw DEFLATE, sync flush, tail removed. */
export function deflateMessage(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** Inflates one message compressed with a fresh context (server_no_context_takeover, or the first message). */
export function inflateMessage(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** A stateful deflater, as a client with context takeover: each message sync-flushed, tail removed. */
export function messageDeflater(options: zlib.ZlibOptions = {}): { deflate(data: Buffer): Promise<Buffer>; close(): void } {
  const deflater = zlib.createDeflateRaw(options);
  return {
    deflate: (data) =>
      new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (chunk: Buffer) => chunks.push(chunk);
        deflater.on('data', onData);
        deflater.write(data);
        deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          deflater.off('data', onData);
          resolve(Buffer.concat(chunks).subarray(0, -4));
        });
      }),
    close: () => deflater.close(),
  };
}

/** A stateful inflater for a server's messages with context takeover, in order. */
export function messageInflater(options: zlib.ZlibOptions = {}): { inflate(payload: Buffer): Promise<Buffer>; close(): void } {
  const inflater = zlib.createInflateRaw(options);
  return {
    inflate: (payload) =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const onData = (chunk: Buffer) => chunks.push(chunk);
        inflater.on('data', onData);
        inflater.once('error', reject);
        inflater.write(Buffer.concat([payload, TAIL]));
        inflater.flush(() => {
          inflater.off('data', onData);
          inflater.off('error', reject);
          resolve(Buffer.concat(chunks));
        });
      }),
    close: () => inflater.close(),
  };
}

/**
 * `size` zero bytes as one compressed message, made in 1 MiB steps so the test never holds
 * the inflated data. DEFLATE tops out near 1032:1, so 200 MiB becomes about 200 KB.
 */
export function zeroBomb(size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const deflater = zlib.createDeflateRaw({ level: 9 });
    const chunks: Buffer[] = [];
    deflater.on('data', (chunk: Buffer) => chunks.push(chunk));
    deflater.on('error', reject);
    const step = Buffer.alloc(1 << 20);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, step.length);
        left -= n;
        if (!deflater.write(step.subarray(0, n))) return void deflater.once('drain', pump);
      }
      deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const out = Buffer.concat(chunks);
        deflater.close();
        resolve(out.subarray(0, out.length - 4));
      });
    };
    pump();
  });
}

/** Compressible text of about `bytes` bytes, different for each seed. */
export function sampleText(bytes: number, seed = 1): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu'];
  let s = '';
  let n = seed;
  while (s.length < bytes) {
    n = (n * 1103515245 + 12345) & 0x7fffffff;
    s += `${words[n % words.length]}${n % 100} `;
  }
  return s.slice(0, bytes);
}
