// `npm run bench:micro [-- --quick]`: the frame codec on its own, from the built package.
// Frames/s parsed and encoded, and unmasking GB/s, in one process with no sockets.
import { applyMask, encodeFrame, encodeHeader, FrameParser, Opcode } from 'wsgate/protocol';
import { maskedFrame } from './common';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 0.3 : 1;
const MAX_ITERATIONS = 1e9;

/** Calls fn (which does `unit` operations) repeatedly for about SECONDS; returns ops/s. */
function rate(fn: () => void, unit: number): number {
  for (let i = 0; i < 3; i++) fn(); // warm up the JIT
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(SECONDS * 1e9));
  let ops = 0;
  for (let i = 0; i < MAX_ITERATIONS; i++) {
    fn();
    ops += unit;
    if ((i & 15) === 15 && process.hrtime.bigint() - start > limit) break;
  }
  return ops / (Number(process.hrtime.bigint() - start) / 1e9);
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: n >= 100 ? 0 : 2 });
const rows: string[][] = [];

function parse(size: number, text: boolean): void {
  // A zero mask key leaves the bytes unchanged, so the same input can be parsed again and
  // again while the parser still does the full unmasking work.
  const payload = Buffer.alloc(size, text ? 0x61 : 0xa5);
  const frame = maskedFrame(text ? Opcode.TEXT : Opcode.BINARY, payload, Buffer.alloc(4));
  const perChunk = Math.max(1, Math.floor(65536 / frame.length));
  const input = Buffer.concat(Array.from({ length: perChunk }, () => frame));
  let messages = 0;
  const parser = new FrameParser(
    {
      onMessage: () => void messages++,
      onPing: () => {},
      onPong: () => {},
      onCloseFrame: () => {},
      onProtocolError: (e) => {
        throw e;
      },
    },
    { maxPayload: 1024 * 1024, requireMask: true },
  );
  const perSecond = rate(() => parser.push(input), perChunk);
  if (messages === 0) throw new Error('parser produced no messages');
  rows.push([`parse ${text ? 'text' : 'binary'} ${label(size)}`, `${fmt(perSecond)} frames/s`, `${fmt((perSecond * size) / 1e9)} GB/s`]);
}

function encode(size: number): void {
  const payload = Buffer.alloc(size, 0x61);
  const perSecond =
    size <= 16384 ? rate(() => encodeFrame(Opcode.TEXT, payload), 1) : rate(() => encodeHeader(Opcode.BINARY, size), 1);
  // Large payloads are written after their own header, uncopied: only the header is work.
  if (size > 16384) rows.push([`encode ${label(size)} (header only)`, `${fmt(perSecond)} frames/s`, '']);
  else rows.push([`encode ${label(size)} (header + copy)`, `${fmt(perSecond)} frames/s`, `${fmt((perSecond * size) / 1e9)} GB/s`]);
}

function unmask(size: number): void {
  const buf = Buffer.alloc(size, 0x5a);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const perSecond = rate(() => applyMask(buf, mask), 1);
  // The obvious byte loop, for scale.
  const naive = rate(() => {
    for (let i = 0; i < buf.length; i++) buf[i] ^= mask[i & 3];
  }, 1);
  rows.push([`unmask ${label(size)}`, `${fmt((perSecond * size) / 1e9)} GB/s`, `byte loop ${fmt((naive * size) / 1e9)} GB/s`]);
}

function label(size: number): string {
  return size >= 1048576 ? `${size / 1048576} MiB` : size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

for (const size of [32, 1024, 65536]) parse(size, true);
for (const size of [32, 65536, 1048576]) parse(size, false);
for (const size of [32, 1024, 65536]) encode(size);
for (const size of [1024, 65536, 1048576]) unmask(size);

console.log(`wsgate codec micro-benchmarks, Node ${process.version}, ~${SECONDS} s each\n`);
console.log('| operation | rate | |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
