// src/io/guards/verify.ts runVerify alone: each answer of verify(req) → its outcome, no sockets.
import type { IncomingMessage } from 'node:http';
import { runVerify, type VerifyFn } from '../../../src/io/guards/verify';

const req = { url: '/ws', headers: {} } as unknown as IncomingMessage;

describe('runVerify', () => {
  test('passes the request to verify', async () => {
    const seen: IncomingMessage[] = [];
    await runVerify((r) => (seen.push(r), true), req);
    expect(seen).toEqual([req]);
    expect(seen[0]).toBe(req);
  });

  test('true → accept', async () => {
    await expect(runVerify(() => true, req)).resolves.toEqual({ kind: 'accept' });
  });

  test('a promise of true → accept', async () => {
    await expect(runVerify(async () => true, req)).resolves.toEqual({ kind: 'accept' });
  });

  test('false → 401 with the status text', async () => {
    const outcome = await runVerify(() => false, req);
    expect(outcome).toEqual({ kind: 'reject', status: 401, headers: {}, body: 'Unauthorized' });
  });

  test('a promise of false → 401', async () => {
    const outcome = await runVerify(() => Promise.resolve(false), req);
    expect(outcome).toMatchObject({ kind: 'reject', status: 401 });
  });

  test('an object → that response, headers as strings, body as given', async () => {
    const outcome = await runVerify(
      () => ({ status: 429, headers: { 'Retry-After': 7 as unknown as string, 'X-Why': 'slow down' }, body: 'later' }),
      req,
    );
    expect(outcome).toEqual({ kind: 'reject', status: 429, headers: { 'Retry-After': '7', 'X-Why': 'slow down' }, body: 'later' });
    expect('error' in outcome).toBe(false);
  });

  test('an object without body → the status text', async () => {
    const outcome = await runVerify(() => ({ status: 403 }), req);
    expect(outcome).toEqual({ kind: 'reject', status: 403, headers: {}, body: 'Forbidden' });
  });

  test('an object with a non-string body → its string', async () => {
    const outcome = await runVerify(() => ({ status: 400, body: 12 as unknown as string }), req);
    expect(outcome).toMatchObject({ status: 400, body: '12' });
  });

  test.each([
    ['status below 400', { status: 302 }],
    ['status above 599', { status: 600 }],
    ['non-integer status', { status: 401.5 }],
    ['status as string', { status: '401' }],
    ['missing status', { body: 'x' }],
    ['null', null],
    ['a number', 401],
    ['a string', 'no'],
    ['undefined', undefined],
  ])('an unusable result (%s) → 500 carrying a TypeError', async (_name, result) => {
    const outcome = await runVerify((() => result) as unknown as VerifyFn, req);
    expect(outcome).toMatchObject({ kind: 'reject', status: 500, headers: {}, body: 'Internal Server Error' });
    const error = (outcome as { error?: unknown }).error;
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/verify\(\) must return/);
  });

  test.each([
    ['a header name that is not a token', { 'Bad Name': 'x' }, 'Bad Name'],
    ['a header value with CR LF', { 'X-Ok': 'a\r\nSet-Cookie: evil=1' }, 'X-Ok'],
    ['an empty header name', { '': 'x' }, ''],
  ])('%s → 500 naming the header', async (_name, headers, name) => {
    const outcome = await runVerify(() => ({ status: 403, headers }), req);
    expect(outcome).toMatchObject({ kind: 'reject', status: 500, body: 'Internal Server Error' });
    const error = (outcome as { error?: Error }).error!;
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toContain(`invalid header: ${JSON.stringify(name)}`);
  });

  test('a throw → 500 carrying the thrown error', async () => {
    const boom = new Error('db down');
    const outcome = await runVerify(() => {
      throw boom;
    }, req);
    expect(outcome).toEqual({ kind: 'reject', status: 500, headers: {}, body: 'Internal Server Error', error: boom });
  });

  test('a rejection → 500 carrying the reason', async () => {
    const boom = new Error('async db down');
    const outcome = await runVerify(() => Promise.reject(boom), req);
    expect(outcome).toEqual({ kind: 'reject', status: 500, headers: {}, body: 'Internal Server Error', error: boom });
  });

  test('a throw of undefined still carries an error', async () => {
    const outcome = await runVerify(() => {
      throw undefined;
    }, req);
    expect(outcome).toMatchObject({ kind: 'reject', status: 500 });
    expect((outcome as { error?: unknown }).error).toBeInstanceOf(Error);
  });

  test('a 500 body never leaks the error message', async () => {
    const outcome = await runVerify(() => Promise.reject(new Error('secret connection string')), req);
    expect((outcome as { body: string }).body).not.toContain('secret');
  });
});
