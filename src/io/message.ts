// What send() takes, how a message becomes frame bytes, and what the events carry.
import { Buffer } from 'node:buffer';
import { encodeFrame, encodeHeader } from '../core/encoder';
import type { Outgoing } from './outbox';

/** Anything `send` accepts. Strings go out as text, the rest as binary. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

export interface SendOptions {
  /** Force a binary (true) or text (false) frame regardless of the data's type. */
  binary?: boolean;
  /** Allow permessage-deflate for this message when it was agreed. Default true. */
  compress?: boolean;
}

// Frames up to this size are copied into one buffer with their header; larger payloads
// are written as they are, after a separate header.
export const COPY_LIMIT = 16 * 1024;

/** A frame as written: small payloads copied in after the header, large ones kept apart. */
export function frameParts(opcode: number, payload: Buffer, rsv1: boolean): Pick<Outgoing, 'frame' | 'payload'> {
  if (payload.length <= COPY_LIMIT) return { frame: encodeFrame(opcode, payload, true, rsv1), payload: null };
  return { frame: encodeHeader(opcode, payload.length, true, rsv1), payload };
}

/** The bytes of any SendData, without copying where it can be avoided. */
export function toBuffer(data: SendData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('send() takes a string, Buffer, ArrayBuffer or typed array');
}

export interface WebSocketEvents {
  /**
   * Text arrives as a string (as a Buffer of valid UTF-8 with `textAs: 'buffer'`), binary as
   * a Buffer. Narrow on the data: `if (typeof data === 'string') data.toUpperCase()`. (A union
   * of tuples narrowing on `isBinary` would reject one-parameter listeners, `(data) => ...`,
   * under Node's EventEmitter<T> typing, and would not hold with textAs 'buffer'.)
   */
  message: [data: string | Buffer, isBinary: boolean];
  close: [code: number, reason: string];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  drain: [];
}
