// Express on Node's HTTP/2 compatibility API, for the demo's HTTPS + HTTP/2 mode.
//
// Express's app.handle (and Express 4's init middleware) set the prototypes of req and res
// to app.request and app.response, which inherit from http.IncomingMessage and
// http.ServerResponse: on an Http2ServerRequest that loses the url, method and headers
// getters, so an Express app cannot serve HTTP/2 requests as it is. forHttp2(app) rebases
// app.request and app.response onto Http2ServerRequest and Http2ServerResponse, keeping
// every Express method. Such an app serves only HTTP/2 requests: the demo keeps a second,
// ordinary app for the HTTP/1.1 requests of the same server (allowHTTP1).
import { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type express from 'express';

function rebase(from: object, stop: object, base: object): object {
  const chain: object[] = [];
  for (let p: object | null = from; p !== null && p !== stop && p !== Object.prototype; p = Object.getPrototypeOf(p)) chain.push(p);
  const descriptors: PropertyDescriptorMap = {};
  for (let i = chain.length - 1; i >= 0; i--) Object.assign(descriptors, Object.getOwnPropertyDescriptors(chain[i]));
  delete (descriptors as { constructor?: unknown }).constructor;
  return Object.create(base, descriptors);
}

export function forHttp2(app: express.Express): express.Express {
  Object.setPrototypeOf(app.request, rebase(Object.getPrototypeOf(app.request), IncomingMessage.prototype, Http2ServerRequest.prototype));
  Object.setPrototypeOf(app.response, rebase(Object.getPrototypeOf(app.response), ServerResponse.prototype, Http2ServerResponse.prototype));
  return app;
}
