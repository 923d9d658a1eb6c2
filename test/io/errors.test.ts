// src/io/errors.ts: the error type of send callbacks, and notSent() for failed transport writes.
import { notSent, WebSocketError } from '../../src/io/errors';

describe('WebSocketError', () => {
  test('carries its message, code, name and an optional cause', () => {
    const cause = new Error('socket hang up');
    const err = new WebSocketError('dropped', 'BACKPRESSURE', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(WebSocketError);
    expect(err.name).toBe('WebSocketError');
    expect(err.message).toBe('dropped');
    expect(err.code).toBe('BACKPRESSURE');
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe('WebSocketError: dropped');
  });

  test('without options it has no cause', () => {
    const err = new WebSocketError('closed', 'NOT_OPEN');
    expect(err.code).toBe('NOT_OPEN');
    expect('cause' in err).toBe(false);
  });

  test('each code is kept as given', () => {
    for (const code of ['NOT_OPEN', 'BACKPRESSURE', 'COMPRESSION_FAILED'] as const) {
      expect(new WebSocketError('x', code).code).toBe(code);
    }
  });
});

describe('notSent', () => {
  test('wraps a transport error as NOT_OPEN with the error as cause', () => {
    const cause = Object.assign(new Error('write after destroy'), { code: 'ERR_STREAM_DESTROYED' });
    const err = notSent(cause);
    expect(err).toBeInstanceOf(WebSocketError);
    expect(err.code).toBe('NOT_OPEN');
    expect(err.cause).toBe(cause);
    expect(err.message).toMatch(/closed before the message was sent/);
  });

  test('every call makes a new error', () => {
    const cause = new Error('ECANCELED');
    expect(notSent(cause)).not.toBe(notSent(cause));
  });
});
