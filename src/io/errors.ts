// Errors the I/O layer hands to the application through send callbacks.

export type WebSocketErrorCode = 'NOT_OPEN' | 'BACKPRESSURE' | 'COMPRESSION_FAILED';

/** Raised through send callbacks; `code` says which case it is, `cause` the transport's own error. */
export class WebSocketError extends Error {
  override name = 'WebSocketError';
  constructor(
    message: string,
    readonly code: WebSocketErrorCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A transport write that failed (destroyed, reset, cancelled) means the message was not sent. */
export function notSent(cause: Error): WebSocketError {
  return new WebSocketError('the connection closed before the message was sent', 'NOT_OPEN', { cause });
}

/** A message queued behind another was dropped because the connection closed first. */
export function closedBeforeSent(): WebSocketError {
  return new WebSocketError('the socket closed before the message was sent', 'NOT_OPEN');
}
