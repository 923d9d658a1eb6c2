// UTF-8 validation for messages that arrive in pieces. Whole runs are checked by Node's
// native isUtf8; only the at most 3 bytes of a code point cut by a fragment edge are kept.
import { isUtf8 } from 'node:buffer';

/** Bytes a sequence starting with `lead` has in all, or 0 when `lead` cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Whether bytes[0..len) can still grow into a valid code point (RFC 3629 table). */
function validPrefix(bytes: Uint8Array, len: number): boolean {
  const lead = bytes[0];
  if (sequenceLength(lead) === 0) return false;
  if (len >= 2) {
    const b = bytes[1];
    let lo = 0x80;
    let hi = 0xbf;
    if (lead === 0xe0) lo = 0xa0; // overlong
    else if (lead === 0xed) hi = 0x9f; // surrogates
    else if (lead === 0xf0) lo = 0x90; // overlong
    else if (lead === 0xf4) hi = 0x8f; // above U+10FFFF
    if (b < lo || b > hi) return false;
  }
  for (let k = 2; k < len; k++) if ((bytes[k] & 0xc0) !== 0x80) return false;
  return true;
}

export class Utf8Stream {
  private readonly tail = new Uint8Array(4);
  private tailLength = 0;

  /** Checks the next piece; false as soon as the bytes so far can never be valid UTF-8. */
  push(bytes: Uint8Array): boolean {
    let i = 0;
    const end = bytes.length;
    if (this.tailLength > 0) {
      const need = sequenceLength(this.tail[0]);
      while (this.tailLength < need && i < end) this.tail[this.tailLength++] = bytes[i++];
      if (this.tailLength < need) return validPrefix(this.tail, this.tailLength);
      if (!isUtf8(this.tail.subarray(0, need))) return false;
      this.tailLength = 0;
    }
    // Find where the last, possibly incomplete, sequence begins.
    let cut = end;
    for (let k = end - 1; k >= i && k >= end - 3; k--) {
      const b = bytes[k];
      if ((b & 0xc0) === 0x80) continue;
      const len = sequenceLength(b);
      if (len !== 0 && k + len > end) cut = k;
      break;
    }
    if (cut > i && !isUtf8(bytes.subarray(i, cut))) return false;
    for (let k = cut; k < end; k++) this.tail[this.tailLength++] = bytes[k];
    return this.tailLength === 0 || validPrefix(this.tail, this.tailLength);
  }

  /** True when the input so far ends on a code point boundary (call at the last fragment). */
  complete(): boolean {
    return this.tailLength === 0;
  }

  reset(): void {
    this.tailLength = 0;
  }
}
