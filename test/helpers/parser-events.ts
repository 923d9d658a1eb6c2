// Drives a FrameParser and records what it emits as plain values, for toEqual comparisons.
import { FrameParser } from '../../src/core/parser';
import type { ParserHandler, ParserOptions } from '../../src/core/parser';
import type { ProtocolError } from '../../src/core/errors';

export type ParserEvent =
  | { type: 'message'; text: boolean; compressed: boolean; data: string } // data: hex
  | { type: 'ping'; data: string }
  | { type: 'pong'; data: string }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; code: number };

export class Recorder implements ParserHandler {
  events: ParserEvent[] = [];
  errors: ProtocolError[] = [];
  /** The last message Buffer exactly as delivered (not copied). */
  lastMessage: Buffer | null = null;
  /** The `ascii` argument of each message, in order. */
  asciiSeen: (boolean | undefined)[] = [];
  /** Called after each event is recorded, e.g. to pause the parser. */
  after?: (event: ParserEvent) => void;

  onMessage(data: Buffer, isText: boolean, compressed: boolean, ascii?: boolean): void {
    this.lastMessage = data;
    this.asciiSeen.push(ascii);
    this.record({ type: 'message', text: isText, compressed, data: data.toString('hex') });
  }
  onPing(data: Buffer): void {
    this.record({ type: 'ping', data: data.toString('hex') });
  }
  onPong(data: Buffer): void {
    this.record({ type: 'pong', data: data.toString('hex') });
  }
  onCloseFrame(code: number, reason: string): void {
    this.record({ type: 'close', code, reason });
  }
  onProtocolError(error: ProtocolError): void {
    this.errors.push(error);
    this.record({ type: 'error', code: error.closeCode });
  }

  private record(event: ParserEvent): void {
    this.events.push(event);
    this.after?.(event);
  }
}

export const DEFAULTS: ParserOptions = { maxPayload: 1 << 20 };

export function makeParser(options: Partial<ParserOptions> = {}): { parser: FrameParser; rec: Recorder } {
  const rec = new Recorder();
  return { parser: new FrameParser(rec, { ...DEFAULTS, ...options }), rec };
}

/**
 * Parses `bytes` fed in chunks of the given sizes (cycled; [] means one chunk).
 * The input is copied first because the parser unmasks in place.
 */
export function parseChunked(bytes: Buffer, sizes: readonly number[] = [], options: Partial<ParserOptions> = {}): ParserEvent[] {
  const { parser, rec } = makeParser(options);
  const input = Buffer.from(bytes);
  if (sizes.length === 0) {
    parser.push(input);
    return rec.events;
  }
  let at = 0;
  for (let k = 0; at < input.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]);
    parser.push(input.subarray(at, at + size));
    at += size;
  }
  return rec.events;
}

export const message = (data: Buffer | string, text = typeof data === 'string', compressed = false): ParserEvent => ({
  type: 'message',
  text,
  compressed,
  data: Buffer.from(data).toString('hex'),
});
