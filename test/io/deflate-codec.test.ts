// DeflateCodec and JobLimiter on their own: RFC 7692 framing, context takeover, window
// sizes, limits and the bookkeeping of zlib contexts.
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { DeflateCodec, zlibContexts } from '../../src/io/deflate';
import { JobLimiter, sharedLimiter } from '../../src/io/job-limiter';
import { type DeflateOptions, type DeflateParams, resolveDeflateOptions } from '../../src/core/extensions';
import { ProtocolError } from '../../src/core/errors';
import { messageDeflater, messageInflater } from '../helpers/compress';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function codec(params: Partial<DeflateParams> = {}, options: DeflateOptions = {}, limiter?: JobLimiter): DeflateCodec {
  const agreed: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...params,
  };
  return new DeflateCodec(agreed, resolveDeflateOptions(options)!, limiter);
}

const compress = (c: DeflateCodec, data: Buffer) =>
  new Promise<Buffer>((resolve, reject) => c.compress(data, (err, out) => (err ? reject(err) : resolve(out!))));
const decompress = (c: DeflateCodec, data: Buffer, max = 1 << 20) =>
  new Promise<Buffer>((resolve, reject) => c.decompress(data, max, (err, out) => (err ? reject(err) : resolve(out!))));

/**
 * A receiving peer: one raw inflate stream across messages, as a client with context takeover.
 * zlib checks distances against the window only for data outside the current output buffer,
 * so the smallest output chunk makes nearly every back-reference go through the window.
 */
function peerInflater(windowBits: number) {
  return messageInflater({ windowBits, chunkSize: 64 });
}

/** Inflates one message with a fresh context, as a peer with no context takeover would. */
const inflateAlone = (msg: Buffer) =>
  zlib.inflateRawSync(Buffer.concat([msg, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });

/** Text-like data: words from a small vocabulary, so matches occur at many distances. */
function wordy(bytes: number): Buffer {
  const words = Array.from({ length: 40 }, (_, i) => `w${i}${'x'.repeat(i % 7)}`);
  let s = '';
  let n = 7;
  while (s.length < bytes) {
    n = (n * 1103515245 + 12345) & 0x7fffffff;
    s += `${words[n % words.length]} `;
  }
  return Buffer.from(s.slice(0, bytes));
}

/** Repeats of random blocks: the only matches are exactly `distance` bytes back. */
function repeats(distance: number, copies = 4): Buffer {
  const block = randomBytes(distance);
  return Buffer.concat(Array.from({ length: copies }, () => block));
}

describe('decompressing the examples of RFC 7692 section 7.2.3', () => {
  let c: DeflateCodec;
  beforeEach(() => {
    c = codec();
  });
  afterEach(() => c.close());

  test('"Hello" compressed, then again using the first message as context (7.2.3.2)', async () => {
    expect((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    expect((await decompress(c, hex('f2 00 11 00 00'))).toString()).toBe('Hello');
  });

  test('a DEFLATE block with no compression (7.2.3.3)', async () => {
    expect((await decompress(c, hex('00 05 00 fa ff 48 65 6c 6c 6f 00'))).toString()).toBe('Hello');
  });

  test('a block with BFINAL set (7.2.3.4): the next message starts a new stream', async () => {
    expect((await decompress(c, hex('f3 48 cd c9 c9 07 00 00'))).toString()).toBe('Hello');
    expect((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    expect((await decompress(c, hex('f3 48 cd c9 c9 07 00 00'))).toString()).toBe('Hello');
    expect((await decompress(c, hex('00 05 00 fa ff 48 65 6c 6c 6f 00'))).toString()).toBe('Hello');
  });

  test('two DEFLATE blocks in one message (7.2.3.5)', async () => {
    expect((await decompress(c, hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00'))).toString()).toBe('Hello');
  });

  test('with client_no_context_takeover a back-reference into the last message is corrupt data: 1007', async () => {
    const fresh = codec({ clientNoContextTakeover: true });
    try {
      expect((await decompress(fresh, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
      await expect(decompress(fresh, hex('f2 00 11 00 00'))).rejects.toMatchObject({ closeCode: 1007 });
    } finally {
      fresh.close();
    }
  });
});

describe('compress', () => {
  test('output is raw DEFLATE without the 00 00 ff ff tail, and inflates back', async () => {
    const c = codec();
    const peer = peerInflater(15);
    try {
      const data = wordy(5000);
      const out = await compress(c, data);
      expect(out.length).toBeLessThan(data.length / 3);
      expect(out.subarray(-4).equals(TAIL)).toBe(false);
      expect((await peer.inflate(out)).equals(data)).toBe(true);
    } finally {
      c.close();
      peer.close();
    }
  });

  test('context takeover: a repeated message costs almost nothing the second time', async () => {
    const c = codec();
    const peer = peerInflater(15);
    try {
      const data = randomBytes(4000);
      const first = await compress(c, data);
      const second = await compress(c, data);
      expect(first.length).toBeGreaterThan(4000);
      expect(second.length).toBeLessThan(100);
      expect((await peer.inflate(first)).equals(data)).toBe(true);
      expect((await peer.inflate(second)).equals(data)).toBe(true);
    } finally {
      c.close();
      peer.close();
    }
  });

  test('server_no_context_takeover: every message stands alone', async () => {
    const c = codec({ serverNoContextTakeover: true });
    try {
      const data = wordy(4000);
      const first = await compress(c, data);
      const second = await compress(c, data);
      expect(second.equals(first)).toBe(true);
      // Each one inflates with a brand-new context.
      for (const msg of [first, second]) {
        expect(inflateAlone(msg).equals(data)).toBe(true);
      }
    } finally {
      c.close();
    }
  });

  test('an empty message compresses to something that inflates to nothing', async () => {
    const c = codec();
    try {
      const out = await compress(c, Buffer.alloc(0));
      expect(inflateAlone(out).length).toBe(0);
    } finally {
      c.close();
    }
  });

  // zlib refuses a raw 8-bit window; the codec uses 9, which is only correct because zlib's
  // deflate never emits a distance over (window - 262) = 250 bytes. This test is the proof:
  // a peer with a real 256-byte window decodes everything, across messages (context takeover).
  test.each([8, 9, 10, 12, 15])('server_max_window_bits=%i: a peer inflating with that window decodes it all', async (bits) => {
    const c = codec({ serverMaxWindowBits: bits });
    const peer = peerInflater(bits);
    try {
      const distances = [100, 200, 250, 251, 255, 256, 257, 300, 511, 512, 600, 1 << bits, (1 << bits) + 1];
      for (const distance of distances) {
        const data = repeats(distance);
        expect((await peer.inflate(await compress(c, data))).equals(data)).toBe(true);
      }
      for (let i = 0; i < 20; i++) {
        const data = wordy(500 + i * 300);
        expect((await peer.inflate(await compress(c, data))).equals(data)).toBe(true);
      }
    } finally {
      c.close();
      peer.close();
    }
  });
});

describe('overlapping calls on one codec', () => {
  test('compressions run one at a time per context and come back in order, each intact', async () => {
    const c = codec({}, { concurrency: 10 }, new JobLimiter(10));
    const peer = peerInflater(15);
    try {
      const inputs = Array.from({ length: 20 }, (_, i) => wordy(3000 + i * 997));
      const order: number[] = [];
      const outputs = await Promise.all(inputs.map((data, i) => compress(c, data).then((out) => (order.push(i), out))));
      expect(order).toEqual(inputs.map((_, i) => i));
      for (let i = 0; i < inputs.length; i++) expect((await peer.inflate(outputs[i])).equals(inputs[i])).toBe(true);
    } finally {
      c.close();
      peer.close();
    }
  });

  test('decompressions too', async () => {
    const c = codec({}, {}, new JobLimiter(10));
    const client = codec();
    try {
      const inputs = Array.from({ length: 20 }, (_, i) => wordy(3000 + i * 997));
      const compressed: Buffer[] = [];
      for (const data of inputs) compressed.push(await compress(client, data));
      const outputs = await Promise.all(compressed.map((data) => decompress(c, data)));
      for (let i = 0; i < inputs.length; i++) expect(outputs[i].equals(inputs[i])).toBe(true);
    } finally {
      c.close();
      client.close();
    }
  });
});

describe('decompress', () => {
  test('inflates what a client with each window size produced, across messages', async () => {
    for (const bits of [8, 9, 11, 13, 15]) {
      // The server inflates with the agreed client window.
      const c = codec({ clientMaxWindowBits: bits });
      const client = messageDeflater({ windowBits: Math.max(9, bits) });
      try {
        for (let i = 0; i < 5; i++) {
          const data = Buffer.concat([wordy(800 + i * 100), repeats(240, 3)]);
          const compressed = await client.deflate(data);
          expect((await decompress(c, compressed)).equals(data)).toBe(true);
        }
      } finally {
        c.close();
        client.close();
      }
    }
  });

  test('a client reaching back further than the agreed window is corrupt data: 1007', async () => {
    const c = codec({ clientMaxWindowBits: 9 });
    const client = messageDeflater({ windowBits: 15 });
    const send = (data: Buffer) => client.deflate(data);
    try {
      const data = randomBytes(2000);
      expect((await decompress(c, await send(data))).equals(data)).toBe(true);
      // The second copy refers 2000 bytes back, into the last message: beyond a 512-byte window.
      await expect(decompress(c, await send(data))).rejects.toMatchObject({ closeCode: 1007 });
    } finally {
      c.close();
      client.close();
    }
  });

  test('maxSize is the inflated size: at the limit is fine, one byte over is 1009', async () => {
    const c = codec();
    try {
      const data = Buffer.alloc(50_000, 'a');
      const compressed = zlib.deflateRawSync(data);
      expect((await decompress(c, compressed, 50_000)).length).toBe(50_000);
      const err = await decompress(c, compressed, 49_999).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).closeCode).toBe(1009);
    } finally {
      c.close();
    }
  });

  test('corrupt data is a 1007, and the next message gets a fresh context', async () => {
    const c = codec();
    try {
      // BTYPE 11 is reserved: an invalid block type.
      await expect(decompress(c, hex('ff ff ff ff'))).rejects.toMatchObject({ closeCode: 1007 });
      expect((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    } finally {
      c.close();
    }
  });

  test('random garbage never throws; it inflates to something or fails with a ProtocolError', async () => {
    const c = codec();
    try {
      for (let i = 0; i < 200; i++) {
        const garbage = randomBytes(1 + (i % 64));
        const result = await decompress(c, garbage, 4096).then(
          () => null,
          (e: unknown) => e,
        );
        if (result !== null) {
          expect(result).toBeInstanceOf(ProtocolError);
          expect([1007, 1009]).toContain((result as ProtocolError).closeCode);
        }
      }
    } finally {
      c.close();
    }
  });
});

describe('zlib contexts', () => {
  test('are made on first use and freed by close()', async () => {
    const before = { ...zlibContexts };
    const c = codec();
    expect(zlibContexts).toEqual(before);
    await compress(c, wordy(2000));
    expect(zlibContexts).toEqual({ ...before, deflate: before.deflate + 1 });
    await decompress(c, hex('f2 48 cd c9 c9 07 00'));
    expect(zlibContexts).toEqual({ ...before, deflate: before.deflate + 1, inflate: before.inflate + 1 });
    c.close();
    c.close(); // twice is harmless
    expect(zlibContexts).toEqual(before);
  });

  test('after close, jobs fail instead of hanging', async () => {
    const c = codec();
    c.close();
    await expect(compress(c, wordy(2000))).rejects.toThrow('codec closed');
    await expect(decompress(c, hex('f2 48 cd c9 c9 07 00'))).rejects.toThrow('codec closed');
  });

  test('closing in the middle of jobs fails them and gives every limiter slot back', async () => {
    const before = { ...zlibContexts };
    const limiter = new JobLimiter(1);
    const c = codec({}, {}, limiter);
    const bomb = zlib.deflateRawSync(Buffer.alloc(8 << 20));
    const results = Promise.all([
      compress(c, wordy(1 << 20)).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
      decompress(c, bomb, 16 << 20).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
      compress(c, wordy(1000)).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    ]);
    // The first compression runs; the decompression waits for the slot; the second
    // compression waits behind the first on this codec's own queue.
    expect(limiter.active).toBe(1);
    expect(limiter.pending).toBe(1);
    c.close();
    const outcome = await results;
    expect(outcome[2]).toBe('codec closed');
    expect(outcome.every((r) => r === 'ok' || r === 'codec closed')).toBe(true);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
    expect(zlibContexts).toEqual(before);
  });
});

describe('without context takeover, streams are pooled', () => {
  const held = () => zlibContexts.deflate + zlibContexts.inflate - zlibContexts.pooled;
  const alone = { serverNoContextTakeover: true, clientNoContextTakeover: true };

  test('a codec holds no stream between messages; one pooled pair serves codecs in turn', async () => {
    const heldBefore = held();
    const madeBefore = { ...zlibContexts };
    const codecs = [codec(alone), codec(alone), codec(alone)];
    try {
      for (let round = 0; round < 3; round++) {
        for (const [i, c] of codecs.entries()) {
          const data = wordy(3000 + i * 100 + round);
          const out = await compress(c, data);
          // Each message stands alone, whoever used the pooled stream before.
          expect(inflateAlone(out).equals(data)).toBe(true);
          expect((await decompress(c, out)).equals(data)).toBe(true);
          expect(held()).toBe(heldBefore);
        }
      }
      // Used one at a time, the codecs never needed more than the one idle stream of each kind.
      expect(zlibContexts.deflate - madeBefore.deflate).toBeLessThanOrEqual(1);
      expect(zlibContexts.inflate - madeBefore.inflate).toBeLessThanOrEqual(1);
    } finally {
      for (const c of codecs) c.close();
    }
    expect(held()).toBe(heldBefore);
  });

  test('at most `limit` idle streams are kept per setting', async () => {
    const limiter = new JobLimiter(2);
    // An unusual level makes a pool key of its own.
    const codecs = Array.from({ length: 6 }, () => codec(alone, { level: 7 }, limiter));
    try {
      await Promise.all(codecs.map((c, i) => compress(c, wordy(5000 + i))));
      const made = zlibContexts.deflate;
      await Promise.all(codecs.map((c, i) => compress(c, wordy(5000 + i))));
      // The second round found the first round's streams idle and made none.
      expect(zlibContexts.deflate).toBe(made);
    } finally {
      for (const c of codecs) c.close();
    }
  });

  test('a stream that failed is freed, not pooled; the next message gets a clean one', async () => {
    const heldBefore = held();
    const c = codec(alone);
    try {
      await expect(decompress(c, hex('ff ff ff'))).rejects.toMatchObject({ closeCode: 1007 });
      await expect(decompress(c, zlib.deflateRawSync(Buffer.alloc(10_000)), 1000)).rejects.toMatchObject({ closeCode: 1009 });
      expect(held()).toBe(heldBefore);
      expect((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
      expect((await decompress(c, hex('f3 48 cd c9 c9 07 00 00'))).toString()).toBe('Hello');
      expect((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    } finally {
      c.close();
    }
    expect(held()).toBe(heldBefore);
  });
});

describe('JobLimiter', () => {
  test('runs at most `limit` jobs, the rest in FIFO order as slots free up', () => {
    const limiter = new JobLimiter(2);
    const started: number[] = [];
    const releases: (() => void)[] = [];
    for (let i = 0; i < 5; i++) {
      limiter.run((release) => {
        started.push(i);
        releases[i] = release;
      });
    }
    expect(started).toEqual([0, 1]);
    expect([limiter.active, limiter.pending]).toEqual([2, 3]);
    releases[1]();
    expect(started).toEqual([0, 1, 2]);
    releases[1](); // a second release of the same slot does nothing
    expect(started).toEqual([0, 1, 2]);
    expect([limiter.active, limiter.pending]).toEqual([2, 2]);
    releases[0]();
    releases[2]();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    releases[3]();
    releases[4]();
    expect([limiter.active, limiter.pending]).toEqual([0, 0]);
  });

  test('a job that releases synchronously lets the queue run through', () => {
    const limiter = new JobLimiter(1);
    const order: number[] = [];
    let hold: (() => void) | null = null;
    limiter.run((release) => {
      hold = release;
    });
    for (let i = 0; i < 3; i++) {
      limiter.run((release) => {
        order.push(i);
        release();
      });
    }
    expect(order).toEqual([]);
    hold!();
    expect(order).toEqual([0, 1, 2]);
    expect(limiter.active).toBe(0);
  });

  test('thousands of jobs that release at once run in order without deep recursion', () => {
    const limiter = new JobLimiter(1);
    let hold!: () => void;
    limiter.run((release) => (hold = release));
    const order: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      limiter.run((release) => {
        order.push(i);
        release();
      });
    }
    hold();
    expect(order.length).toBe(50_000);
    expect(order.every((v, i) => v === i)).toBe(true);
    expect([limiter.active, limiter.pending]).toEqual([0, 0]);
  });

  test('one shared limiter per concurrency value', () => {
    expect(sharedLimiter(3)).toBe(sharedLimiter(3));
    expect(sharedLimiter(3)).not.toBe(sharedLimiter(4));
    expect(sharedLimiter(3).limit).toBe(3);
  });

  test('codecs sharing a limiter of 1 queue their jobs, and all finish in order', async () => {
    const limiter = new JobLimiter(1);
    const codecs = [codec({}, {}, limiter), codec({}, {}, limiter), codec({}, {}, limiter)];
    const peers = codecs.map(() => peerInflater(15));
    try {
      const inputs = Array.from({ length: 30 }, (_, i) => wordy(2000 + i * 50));
      const jobs = inputs.map((data, i) => compress(codecs[i % 3], data));
      // One job runs; each other codec has one waiting for the slot, the rest wait per codec.
      expect([limiter.active, limiter.pending]).toEqual([1, 2]);
      const outputs = await Promise.all(jobs);
      expect([limiter.active, limiter.pending]).toEqual([0, 0]);
      // Each codec's messages inflate in order through that codec's peer (context takeover).
      for (let i = 0; i < outputs.length; i++) {
        expect((await peers[i % 3].inflate(outputs[i])).equals(inputs[i])).toBe(true);
      }
    } finally {
      for (const c of codecs) c.close();
      for (const p of peers) p.close();
    }
  });
});
