// listenHttp2: takes the WebSocket extended CONNECT streams (RFC 8441) of a node:http2
// server and leaves every other stream to the server's own handlers.
//
// How Node 20 dispatches (lib/internal/http2/core.js and compat.js):
// - Every session of an Http2Server / Http2SecureServer emits each new stream on the
//   server as 'stream' (stream, headers, flags, rawHeaders).
// - The compatibility layer (what `http2.createSecureServer(options, app)` uses) is itself a
//   'stream' listener, added when the first 'request' listener is. For a CONNECT it emits
//   'connect' (req, res) instead of 'request', and when nothing listens for 'connect' it
//   answers 405 and ends the stream. An Express app therefore never sees the CONNECT, but
//   the compat layer would answer it next to us: a plain extra 'stream' listener is not
//   enough. So the server's emit is wrapped: a WebSocket CONNECT we take is not emitted at
//   all; everything else is emitted exactly as before.
// - Each new session sends the server's options.settings in its first SETTINGS frame;
//   server.updateSettings() changes those options for sessions that connect afterwards.
//   enableConnectProtocol: true is SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 section 3);
//   without it nghttp2 treats a request carrying :protocol as malformed.
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { constants } from 'node:http2';
import { Http2Attempt } from './http2-attempt';

/** Takes an attempt; it must answer it (refuse or accept). */
export type Http2AttemptListener = (attempt: Http2Attempt) => void;

export interface ListenHttp2Options {
  /**
   * Whether this listener takes a WebSocket CONNECT (e.g. its path matches). Default: all.
   * Listeners are asked in the order they were added; the first that claims gets it.
   */
  claims?: (headers: IncomingHttpHeaders) => boolean;
}

export interface Http2Listening {
  /**
   * Stops taking streams. When no listener is left, sessions that connect afterwards no
   * longer advertise the setting; sessions that already did keep it (section 3 forbids
   * turning it off), and their CONNECTs go to the server's own handlers again.
   */
  close(): void;
}

type AnyHttp2Server = Http2Server | Http2SecureServer;

interface Entry {
  onAttempt: Http2AttemptListener;
  claims: (headers: IncomingHttpHeaders) => boolean;
}

interface ServerState {
  entries: Entry[];
  emit: AnyHttp2Server['emit'];
  /** Our wrapper, to tell whether someone wrapped emit after us. */
  wrapped: AnyHttp2Server['emit'];
  /** enableConnectProtocol as the server had it before us. */
  hadSetting: boolean;
  /** emit was an own property of the server (someone wrapped it before us). */
  ownEmit: boolean;
}

const kState = Symbol('wsgate.http2');
type Tagged = AnyHttp2Server & { [kState]?: ServerState };

/** A CONNECT with :protocol websocket (RFC 8441 sections 4 and 5). */
export function isWebSocketConnect(headers: IncomingHttpHeaders): boolean {
  const protocol = headers[':protocol'];
  return headers[':method'] === 'CONNECT' && typeof protocol === 'string' && protocol.toLowerCase() === 'websocket';
}

// The server's own settings object (private in Node); read only, to restore what was there.
function ownSettings(server: AnyHttp2Server): { enableConnectProtocol?: boolean } | undefined {
  const sym = Object.getOwnPropertySymbols(server).find((s) => s.description === 'options');
  const options = sym ? (server as unknown as Record<symbol, { settings?: object }>)[sym] : undefined;
  return options?.settings as { enableConnectProtocol?: boolean } | undefined;
}

// Something else would answer the CONNECT: a 'connect' listener (the compat layer's route
// for CONNECT), or a 'stream' listener that is not the compat layer itself.
function othersHandle(server: AnyHttp2Server): boolean {
  if (server.listenerCount('connect') > 0) return true;
  return server.listeners('stream').some((fn) => fn.name !== 'bound onServerStream');
}

function dispatch(server: Tagged, state: ServerState, args: unknown[]): boolean {
  const [stream, headers, flags, rawHeaders] = args as [ServerHttp2Stream, IncomingHttpHeaders, number, string[]];
  const entry = state.entries.find((e) => e.claims(headers));
  if (!entry) {
    if (othersHandle(server)) return false;
    new Http2Attempt(stream, headers, rawHeaders).refuse(404, {}, 'Not Found');
    return true;
  }
  const attempt = new Http2Attempt(stream, headers, rawHeaders);
  // A CONNECT whose HEADERS carried END_STREAM has no stream left to tunnel (RFC 8441 section 4).
  if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
    attempt.refuse(400, {}, 'An extended CONNECT must leave the stream open');
    return true;
  }
  try {
    entry.onAttempt(attempt);
  } catch (err) {
    attempt.refuse(500, {}, 'Internal Server Error');
    process.nextTick(() => {
      throw err;
    });
  }
  return true;
}

/**
 * Takes the WebSocket CONNECT streams of `server` (h2 over TLS or cleartext h2c) and calls
 * `onAttempt` with each; turns on SETTINGS_ENABLE_CONNECT_PROTOCOL for sessions that connect
 * from now on, in their first SETTINGS frame. Other streams, requests and HTTP/1.1
 * connections (allowHTTP1) reach the server's handlers as before.
 */
export function listenHttp2(
  server: AnyHttp2Server,
  onAttempt: Http2AttemptListener,
  options: ListenHttp2Options = {},
): Http2Listening {
  const tagged = server as Tagged;
  let state = tagged[kState];
  if (!state) {
    const original = server.emit;
    const created: ServerState = {
      entries: [],
      emit: original,
      wrapped: original,
      hadSetting: ownSettings(server)?.enableConnectProtocol === true,
      ownEmit: Object.prototype.hasOwnProperty.call(server, 'emit'),
    };
    const wrapped = function (this: AnyHttp2Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'stream' && created.entries.length > 0 && isWebSocketConnect(args[1] as IncomingHttpHeaders)) {
        if (dispatch(tagged, created, args)) return true;
      }
      return original.call(this, event, ...args);
    } as AnyHttp2Server['emit'];
    created.wrapped = wrapped;
    server.emit = wrapped;
    tagged[kState] = state = created;
  }
  const entry: Entry = { onAttempt, claims: options.claims ?? (() => true) };
  state.entries.push(entry);
  server.updateSettings({ enableConnectProtocol: true });

  const current = state;
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      current.entries = current.entries.filter((e) => e !== entry);
      if (current.entries.length > 0) return;
      if (!current.hadSetting) server.updateSettings({ enableConnectProtocol: false });
      // Unwrap unless someone wrapped emit after us (then ours stays, idle, in their chain).
      if (server.emit === current.wrapped) {
        if (current.ownEmit) server.emit = current.emit;
        else delete (server as { emit?: unknown }).emit;
        delete tagged[kState];
      }
    },
  };
}
