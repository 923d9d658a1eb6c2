// The close handshake of RFC 6455 sections 5.5.1 and 7 as one explicit state machine.
// It decides; the connection acts (writes the close frame, ends or destroys the transport,
// arms the close timer). No I/O here.
import { CloseCode } from '../core/frames';

export const CloseState = {
  /** Messages flow both ways. */
  OPEN: 'open',
  /** We sent a close frame and wait for the peer's. */
  CLOSE_SENT: 'close-sent',
  /** The peer's close frame arrived (answered, if we had not sent ours); our side is ending. */
  CLOSE_RECEIVED: 'close-received',
  /** The peer broke the protocol: our close frame carries the error's code; our side is ending. */
  FAILED: 'failed',
  /** terminate(), a dead peer or a slow reader: the transport is torn down without a handshake. */
  ABORTED: 'aborted',
  /** The peer ended its side without a close frame; ours is ending. */
  PEER_ENDED: 'peer-ended',
  /** The transport is gone. */
  CLOSED: 'closed',
} as const;

export type CloseStateName = (typeof CloseState)[keyof typeof CloseState];

/** readyState as the browser defines it. */
export type ReadyState = 0 | 1 | 2 | 3;

export class CloseHandshake {
  state: CloseStateName = CloseState.OPEN;
  /** What the 'close' event reports: the peer's code, the one we failed with, or 1006. */
  code: number = CloseCode.ABNORMAL;
  reason = '';
  /** Our close frame is written (or queued); no data frame may follow it. */
  sent = false;
  /** Later input from the peer is dropped (failed or aborted). */
  discarding = false;

  get readyState(): ReadyState {
    if (this.state === CloseState.OPEN) return 1;
    return this.state === CloseState.CLOSED ? 3 : 2;
  }

  /** close() by the application: true when a close frame with this code must go out. */
  start(): boolean {
    if (this.state !== CloseState.OPEN) return false;
    this.state = CloseState.CLOSE_SENT;
    this.sent = true;
    return true;
  }

  /**
   * The peer's close frame. Returns the code to echo (undefined: echo an empty close), or
   * null when ours was already sent. The server then ends the transport first (7.1.1).
   */
  received(code: number, reason: string): number | undefined | null {
    if (this.state === CloseState.CLOSED) return null;
    this.code = code;
    this.reason = reason;
    const mustAnswer = !this.sent;
    this.sent = true;
    this.state = CloseState.CLOSE_RECEIVED;
    if (!mustAnswer) return null;
    return code === CloseCode.NO_STATUS ? undefined : code;
  }

  /** A protocol error (7.1.7): true when a close frame with `code` must go out. */
  fail(code: number): boolean {
    if (this.state === CloseState.CLOSED) return false;
    this.discarding = true;
    if (this.state !== CloseState.CLOSE_RECEIVED) this.code = code;
    this.state = CloseState.FAILED;
    if (this.sent) return false;
    this.sent = true;
    return true;
  }

  /** Tear down without a handshake; `code` overrides the reported 1006 (e.g. 1008 for a slow reader). */
  abort(code?: number, reason?: string): boolean {
    if (this.state === CloseState.CLOSED) return false;
    this.discarding = true;
    if (code !== undefined) {
      this.code = code;
      this.reason = reason ?? '';
    }
    this.state = CloseState.ABORTED;
    return true;
  }

  /** The peer ended its side. */
  peerEnded(): void {
    if (this.state === CloseState.OPEN) this.state = CloseState.PEER_ENDED;
  }

  /** The transport closed: returns true the first time, when 'close' is to be emitted. */
  transportClosed(): boolean {
    if (this.state === CloseState.CLOSED) return false;
    this.state = CloseState.CLOSED;
    return true;
  }
}
