// The protocol violations checked by test/io/connection-protocol.test.ts (RFC 6455 sections 5 to 7)
// with the close code each must get, as data, so that the HTTP/2 form
// (test/io/http2-endpoint-protocol.test.ts) checks exactly the same cases and codes.
import { closePayload, type FrameSpec } from './raw-client';

const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

const bytes = (...b: number[]) => Buffer.from(b);

export interface Violation {
  name: string;
  frames: (Buffer | FrameSpec)[];
  code: number;
}

export const violations: Violation[] = [
  { name: 'an unmasked text frame', frames: [{ opcode: TEXT, payload: 'hi', masked: false }], code: 1002 },
  { name: 'an unmasked ping', frames: [{ opcode: PING, masked: false }], code: 1002 },
  { name: 'RSV1 without a negotiated extension', frames: [{ opcode: TEXT, payload: 'hi', rsv: 0x40 }], code: 1002 },
  { name: 'RSV2', frames: [{ opcode: BINARY, payload: 'hi', rsv: 0x20 }], code: 1002 },
  { name: 'RSV3', frames: [{ opcode: BINARY, payload: 'hi', rsv: 0x10 }], code: 1002 },
  { name: 'RSV1 on a ping', frames: [{ opcode: PING, rsv: 0x40 }], code: 1002 },
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode) => ({
    name: `reserved opcode 0x${opcode.toString(16)}`,
    frames: [{ opcode, payload: 'x' }],
    code: 1002,
  })),
  { name: 'a fragmented ping', frames: [{ opcode: PING, payload: 'a', fin: false }], code: 1002 },
  { name: 'a fragmented close', frames: [{ opcode: CLOSE, payload: closePayload(1000), fin: false }], code: 1002 },
  { name: 'a 126-byte ping', frames: [{ opcode: PING, payload: Buffer.alloc(126) }], code: 1002 },
  { name: 'a 126-byte pong', frames: [{ opcode: PONG, payload: Buffer.alloc(126) }], code: 1002 },
  { name: 'a 126-byte close', frames: [{ opcode: CLOSE, payload: closePayload(1000, 'r'.repeat(124)) }], code: 1002 },
  // Refused from the header alone: the 200 payload bytes are never sent.
  { name: 'a ping declaring 200 bytes (header only)', frames: [{ opcode: PING, length: 200 }], code: 1002 },
  { name: 'a continuation without a message', frames: [{ opcode: 0x0, payload: 'x' }], code: 1002 },
  {
    name: 'a final continuation after the message ended',
    frames: [{ opcode: TEXT, payload: 'whole' }, { opcode: 0x0, payload: 'x' }],
    code: 1002,
  },
  {
    name: 'a new text frame while a message is in progress',
    frames: [
      { opcode: TEXT, payload: 'a', fin: false },
      { opcode: TEXT, payload: 'b' },
    ],
    code: 1002,
  },
  {
    name: 'a new binary frame while a message is in progress',
    frames: [
      { opcode: BINARY, payload: 'a', fin: false },
      { opcode: 0x0, payload: 'b', fin: false },
      { opcode: BINARY, payload: 'c' },
    ],
    code: 1002,
  },
  { name: 'a 64-bit length with the top bit set', frames: [{ opcode: BINARY, length: 2 ** 63 }], code: 1002 },
  {
    name: 'a 64-bit length of 2^63 + 5',
    frames: [Buffer.concat([bytes(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5), bytes(1, 2, 3, 4)])],
    code: 1002,
  },
  { name: 'invalid UTF-8 in a text frame', frames: [{ opcode: TEXT, payload: bytes(0x61, 0xff, 0x62) }], code: 1007 },
  { name: 'an overlong encoding', frames: [{ opcode: TEXT, payload: bytes(0xc0, 0xaf) }], code: 1007 },
  { name: 'a UTF-16 surrogate', frames: [{ opcode: TEXT, payload: bytes(0xed, 0xa0, 0x80) }], code: 1007 },
  { name: 'a code point above U+10FFFF', frames: [{ opcode: TEXT, payload: bytes(0xf4, 0x90, 0x80, 0x80) }], code: 1007 },
  { name: 'text ending inside a code point', frames: [{ opcode: TEXT, payload: bytes(0x61, 0xe2, 0x82) }], code: 1007 },
  {
    name: 'invalid UTF-8 across fragments',
    frames: [
      { opcode: TEXT, payload: bytes(0x61, 0xc3), fin: false },
      { opcode: 0x0, payload: bytes(0x28) },
    ],
    code: 1007,
  },
  {
    name: 'a fragmented text message ending inside a code point',
    frames: [
      { opcode: TEXT, payload: 'ab', fin: false },
      { opcode: 0x0, payload: bytes(0xf0, 0x9f, 0x98) },
    ],
    code: 1007,
  },
  // Only the first fragment is sent: the server must not wait for the rest.
  { name: 'an invalid first fragment (fails early)', frames: [{ opcode: TEXT, payload: bytes(0xff), fin: false }], code: 1007 },
  {
    name: 'a prefix that can never become valid (fails early)',
    frames: [{ opcode: TEXT, payload: bytes(0x61, 0xe0, 0x80), fin: false }],
    code: 1007,
  },
  { name: 'a close frame with a 1-byte payload', frames: [{ opcode: CLOSE, payload: bytes(0x03) }], code: 1002 },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((closeCode) => ({
    name: `a close frame with code ${closeCode}`,
    frames: [{ opcode: CLOSE, payload: closePayload(closeCode) }],
    code: 1002,
  })),
  {
    name: 'a close reason that is not UTF-8',
    frames: [{ opcode: CLOSE, payload: Buffer.concat([closePayload(1000), bytes(0xff, 0xfe)]) }],
    code: 1007,
  },
  { name: 'a frame over maxPayload (header only)', frames: [{ opcode: BINARY, length: 1025 }], code: 1009 },
  { name: 'a 64-bit length over maxPayload (header only)', frames: [{ opcode: TEXT, length: 2 ** 40 }], code: 1009 },
  {
    name: 'fragments that add up to more than maxPayload',
    frames: [
      { opcode: BINARY, payload: Buffer.alloc(600), fin: false },
      { opcode: 0x0, length: 425, fin: false },
    ],
    code: 1009,
  },
];
