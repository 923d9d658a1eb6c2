// src/io/close-state.ts: the close handshake as a pure state machine (RFC 6455 5.5.1, 7).
import { CloseCode } from '../../src/core/frames';
import { CloseHandshake, CloseState } from '../../src/io/close-state';

function fresh(): CloseHandshake {
  return new CloseHandshake();
}

describe('initial state', () => {
  test('open, nothing sent, not discarding, code 1006 and empty reason', () => {
    const h = fresh();
    expect(h.state).toBe(CloseState.OPEN);
    expect(h.readyState).toBe(1);
    expect(h.sent).toBe(false);
    expect(h.discarding).toBe(false);
    expect(h.code).toBe(1006);
    expect(h.code).toBe(CloseCode.ABNORMAL);
    expect(h.reason).toBe('');
  });
});

describe('start (close() by the application)', () => {
  test('from OPEN: a close frame must go out, CLOSE_SENT, readyState 2', () => {
    const h = fresh();
    expect(h.start()).toBe(true);
    expect(h.state).toBe(CloseState.CLOSE_SENT);
    expect(h.sent).toBe(true);
    expect(h.discarding).toBe(false);
    expect(h.readyState).toBe(2);
    expect(h.code).toBe(1006); // nothing reported until the peer answers
  });

  test('a second start sends nothing', () => {
    const h = fresh();
    h.start();
    expect(h.start()).toBe(false);
    expect(h.state).toBe(CloseState.CLOSE_SENT);
  });

  test.each([
    ['received', (h: CloseHandshake) => h.received(1000, '')],
    ['failed', (h: CloseHandshake) => h.fail(1002)],
    ['aborted', (h: CloseHandshake) => h.abort()],
    ['peer-ended', (h: CloseHandshake) => h.peerEnded()],
    ['closed', (h: CloseHandshake) => h.transportClosed()],
  ])('after %s, start sends nothing and keeps the state', (_name, step) => {
    const h = fresh();
    step(h);
    const before = h.state;
    expect(h.start()).toBe(false);
    expect(h.state).toBe(before);
  });
});

describe('received (the peer\'s close frame)', () => {
  test('without a prior start: echo the peer\'s code, CLOSE_RECEIVED, code and reason reported', () => {
    const h = fresh();
    expect(h.received(4001, 'bye')).toBe(4001);
    expect(h.state).toBe(CloseState.CLOSE_RECEIVED);
    expect(h.sent).toBe(true);
    expect(h.code).toBe(4001);
    expect(h.reason).toBe('bye');
    expect(h.readyState).toBe(2);
  });

  test('an empty close (1005) is echoed as an empty close: undefined', () => {
    const h = fresh();
    expect(h.received(CloseCode.NO_STATUS, '')).toBeUndefined();
    expect(h.code).toBe(1005);
    expect(h.sent).toBe(true);
  });

  test('after start: nothing to echo (null), the peer\'s code is reported', () => {
    const h = fresh();
    h.start();
    expect(h.received(1001, 'going')).toBeNull();
    expect(h.state).toBe(CloseState.CLOSE_RECEIVED);
    expect(h.code).toBe(1001);
    expect(h.reason).toBe('going');
  });

  test('a second close frame is not echoed again', () => {
    const h = fresh();
    expect(h.received(1000, '')).toBe(1000);
    expect(h.received(1000, '')).toBeNull();
  });

  test('after the transport closed: null, and the reported code is unchanged', () => {
    const h = fresh();
    h.transportClosed();
    expect(h.received(1000, 'late')).toBeNull();
    expect(h.state).toBe(CloseState.CLOSED);
    expect(h.code).toBe(1006);
    expect(h.reason).toBe('');
  });

  test('after the peer ended its side, a close frame still counts', () => {
    const h = fresh();
    h.peerEnded();
    expect(h.received(1000, '')).toBe(1000);
    expect(h.state).toBe(CloseState.CLOSE_RECEIVED);
  });
});

describe('fail (a protocol error)', () => {
  test('from OPEN: a close frame with the code goes out, FAILED, discarding, code reported', () => {
    const h = fresh();
    expect(h.fail(1002)).toBe(true);
    expect(h.state).toBe(CloseState.FAILED);
    expect(h.discarding).toBe(true);
    expect(h.sent).toBe(true);
    expect(h.code).toBe(1002);
    expect(h.readyState).toBe(2);
  });

  test('after start: no second close frame, but the failure code is reported', () => {
    const h = fresh();
    h.start();
    expect(h.fail(1007)).toBe(false);
    expect(h.state).toBe(CloseState.FAILED);
    expect(h.code).toBe(1007);
    expect(h.discarding).toBe(true);
  });

  test('after received: no close frame, and the peer\'s code stays the reported one', () => {
    const h = fresh();
    h.received(4000, 'peer');
    expect(h.fail(1002)).toBe(false);
    expect(h.state).toBe(CloseState.FAILED);
    expect(h.code).toBe(4000);
    expect(h.reason).toBe('peer');
    expect(h.discarding).toBe(true);
  });

  test('a second failure sends nothing and overrides the code (not after received)', () => {
    const h = fresh();
    expect(h.fail(1002)).toBe(true);
    expect(h.fail(1009)).toBe(false);
    expect(h.code).toBe(1009);
  });

  test('after the transport closed: nothing, state and code unchanged', () => {
    const h = fresh();
    h.transportClosed();
    expect(h.fail(1002)).toBe(false);
    expect(h.state).toBe(CloseState.CLOSED);
    expect(h.code).toBe(1006);
    expect(h.discarding).toBe(false);
  });
});

describe('abort (teardown without a handshake)', () => {
  test('without a code: ABORTED, discarding, 1006 kept, no close frame', () => {
    const h = fresh();
    expect(h.abort()).toBe(true);
    expect(h.state).toBe(CloseState.ABORTED);
    expect(h.discarding).toBe(true);
    expect(h.sent).toBe(false);
    expect(h.code).toBe(1006);
    expect(h.reason).toBe('');
    expect(h.readyState).toBe(2);
  });

  test('with a code and reason: they become what close reports', () => {
    const h = fresh();
    expect(h.abort(1008, 'send buffer limit exceeded')).toBe(true);
    expect(h.code).toBe(1008);
    expect(h.reason).toBe('send buffer limit exceeded');
  });

  test('with a code but no reason: the reason is emptied', () => {
    const h = fresh();
    h.received(4000, 'from peer');
    h.abort(1008);
    expect(h.code).toBe(1008);
    expect(h.reason).toBe('');
  });

  test('without a code after received: the peer\'s code stays', () => {
    const h = fresh();
    h.received(4000, 'from peer');
    expect(h.abort()).toBe(true);
    expect(h.code).toBe(4000);
    expect(h.reason).toBe('from peer');
    expect(h.state).toBe(CloseState.ABORTED);
  });

  test('after the transport closed: false, nothing changes', () => {
    const h = fresh();
    h.transportClosed();
    expect(h.abort(1008, 'x')).toBe(false);
    expect(h.code).toBe(1006);
    expect(h.state).toBe(CloseState.CLOSED);
  });
});

describe('peerEnded', () => {
  test('from OPEN: PEER_ENDED, readyState 2, code stays 1006', () => {
    const h = fresh();
    h.peerEnded();
    expect(h.state).toBe(CloseState.PEER_ENDED);
    expect(h.readyState).toBe(2);
    expect(h.code).toBe(1006);
    expect(h.sent).toBe(false);
  });

  test.each([
    ['close-sent', (h: CloseHandshake) => h.start(), CloseState.CLOSE_SENT],
    ['close-received', (h: CloseHandshake) => h.received(1000, ''), CloseState.CLOSE_RECEIVED],
    ['failed', (h: CloseHandshake) => h.fail(1002), CloseState.FAILED],
    ['aborted', (h: CloseHandshake) => h.abort(), CloseState.ABORTED],
    ['closed', (h: CloseHandshake) => h.transportClosed(), CloseState.CLOSED],
  ])('in %s it changes nothing', (_name, step, expected) => {
    const h = fresh();
    step(h);
    h.peerEnded();
    expect(h.state).toBe(expected);
  });
});

describe('transportClosed', () => {
  test('true exactly once, then CLOSED with readyState 3', () => {
    const h = fresh();
    expect(h.transportClosed()).toBe(true);
    expect(h.state).toBe(CloseState.CLOSED);
    expect(h.readyState).toBe(3);
    expect(h.transportClosed()).toBe(false);
    expect(h.transportClosed()).toBe(false);
    expect(h.readyState).toBe(3);
  });

  test('keeps the code decided before it', () => {
    const h = fresh();
    h.start();
    h.received(1000, 'done');
    expect(h.transportClosed()).toBe(true);
    expect(h.code).toBe(1000);
    expect(h.reason).toBe('done');
  });
});

describe('readyState mapping', () => {
  test.each([
    [CloseState.OPEN, 1],
    [CloseState.CLOSE_SENT, 2],
    [CloseState.CLOSE_RECEIVED, 2],
    [CloseState.FAILED, 2],
    [CloseState.ABORTED, 2],
    [CloseState.PEER_ENDED, 2],
    [CloseState.CLOSED, 3],
  ])('%s → %d', (state, readyState) => {
    const h = fresh();
    h.state = state;
    expect(h.readyState).toBe(readyState);
  });

  test('CONNECTING (0) is never produced', () => {
    const h = fresh();
    const seen = new Set<number>([h.readyState]);
    h.start();
    seen.add(h.readyState);
    h.received(1000, '');
    seen.add(h.readyState);
    h.transportClosed();
    seen.add(h.readyState);
    expect([...seen].sort()).toEqual([1, 2, 3]);
  });
});

describe('sent and discarding through whole handshakes', () => {
  test('server-initiated: start → received → closed', () => {
    const h = fresh();
    expect(h.start()).toBe(true);
    expect(h.received(1000, '')).toBeNull();
    expect(h.transportClosed()).toBe(true);
    expect(h.discarding).toBe(false);
    expect(h.sent).toBe(true);
    expect(h.code).toBe(1000);
  });

  test('peer-initiated: received → closed; start afterwards sends nothing', () => {
    const h = fresh();
    expect(h.received(1001, '')).toBe(1001);
    expect(h.start()).toBe(false);
    expect(h.transportClosed()).toBe(true);
    expect(h.code).toBe(1001);
    expect(h.discarding).toBe(false);
  });

  test('peer vanishes: peerEnded → closed reports 1006', () => {
    const h = fresh();
    h.peerEnded();
    expect(h.transportClosed()).toBe(true);
    expect(h.code).toBe(1006);
    expect(h.sent).toBe(false);
  });
});
