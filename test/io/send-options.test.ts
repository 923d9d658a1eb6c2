// send(data, options): an unknown option key is a TypeError at the call, as for every other
// options object of the API; the known ones (binary, compress) and the callback forms work.
import type { SendOptions } from '../../src';
import { once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

describe('send() options', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('an unknown key throws a TypeError naming it, before anything is sent', async () => {
    s = await startWsServer();
    await s.wsClient();
    const socket = await s.nextSocket();
    const before = s.endpoint.stats().messagesOut;
    const callback = jest.fn();
    expect(() => socket.send('x', { binray: true } as SendOptions, callback)).toThrow(new TypeError('send: unknown option "binray"'));
    expect(() => socket.send('x', { binary: true, except: socket } as SendOptions)).toThrow(new TypeError('send: unknown option "except"'));
    // ws's own send options (and broadcast's) are caught next to a known key too.
    expect(() => socket.send('x', { binary: true, fin: true } as SendOptions)).toThrow(new TypeError('send: unknown option "fin"'));
    expect(() => socket.send('x', { compress: false, mask: false } as SendOptions)).toThrow(new TypeError('send: unknown option "mask"'));
    expect(() => socket.send('x', {} as SendOptions)).not.toThrow();
    expect(() => socket.send('x', 'binary' as unknown as SendOptions)).toThrow(new TypeError('send: options must be an object'));
    expect(() => socket.send('x', true as unknown as SendOptions)).toThrow(TypeError);
    expect(s.endpoint.stats().messagesOut).toBe(before + 1); // only the {} send went out
    expect(callback).not.toHaveBeenCalled();
  });

  test('known keys, no options, null, a callback in place of options, inherited keys', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const got: [string, boolean][] = [];
    client.on('message', (data: Buffer, isBinary: boolean) => got.push([data.toString(), isBinary]));
    const sent = jest.fn();
    expect(socket.send('a')).toBe(true);
    expect(socket.send('b', { binary: true })).toBe(true);
    expect(socket.send('c', { binary: false, compress: false })).toBe(true);
    expect(socket.send('d', {})).toBe(true);
    expect(socket.send('e', null as unknown as SendOptions)).toBe(true);
    expect(socket.send('f', undefined, sent)).toBe(true);
    expect(socket.send('g', sent)).toBe(true);
    // Only own keys count: an options object made from a prototype with extras is fine.
    const inherited = Object.assign(Object.create({ extra: 1 }) as SendOptions, { binary: true });
    expect(socket.send('h', inherited)).toBe(true);
    socket.close();
    await once(client, 'close');
    expect(got).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
      ['d', false],
      ['e', false],
      ['f', false],
      ['g', false],
      ['h', true],
    ]);
    expect(sent).toHaveBeenCalledTimes(2);
  });

  test('the check comes first: an unknown key on a closed socket still throws', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    client.close();
    await once(socket, 'close');
    expect(() => socket.send('x', { bogus: 1 } as SendOptions)).toThrow(TypeError);
    expect(socket.send('x', { binary: false })).toBe(false);
  });
});
