// HTTP/1.1 responses wsgate writes itself: the 101 that opens a connection and the
// complete responses that refuse one. Pure: strings in, bytes-to-be out.
import { Buffer } from 'node:buffer';

// The IANA reason phrases (RFC 9110 section 15), kept here so the core needs no node:http.
const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  102: "Processing",
  103: "Early Hints",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  207: "Multi-Status",
  208: "Already Reported",
  226: "IM Used",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  305: "Use Proxy",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Payload Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  418: "I'm a Teapot",
  421: "Misdirected Request",
  422: "Unprocessable Entity",
  423: "Locked",
  424: "Failed Dependency",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  506: "Variant Also Negotiates",
  507: "Insufficient Storage",
  508: "Loop Detected",
  509: "Bandwidth Limit Exceeded",
  510: "Not Extended",
  511: "Network Authentication Required",
};

/** The reason phrase for a status code. */
export function statusText(status: number): string {
  return REASON_PHRASES[status] ?? 'Error';
}

export type ResponseHeaders = Record<string, string | readonly string[]>;

// Header values we write must never break the response apart.
const CR_OR_LF = /[\r\n]/;

function headerLine(name: string, value: string): string {
  if (CR_OR_LF.test(name) || CR_OR_LF.test(value)) throw new TypeError(`header ${name} contains CR or LF`);
  return `${name}: ${value}\r\n`;
}

function headerLines(headers: ResponseHeaders): string {
  let out = '';
  for (const name of Object.keys(headers)) {
    const values = headers[name];
    if (typeof values === 'string') out += headerLine(name, values);
    else for (const value of values) out += headerLine(name, value);
  }
  return out;
}

/**
 * The bytes of a 101 response. `extra` adds headers set before the upgrade (e.g. a
 * session's Set-Cookie); a repeated header is given as an array.
 */
export function formatAccept(accept: { headers: ResponseHeaders }, extra?: ResponseHeaders): string {
  const more = extra ? headerLines(extra) : '';
  return `HTTP/1.1 101 Switching Protocols\r\n${headerLines(accept.headers)}${more}\r\n`;
}

/**
 * The bytes of a complete HTTP response that ends the connection: the body exactly as
 * given, the caller's headers (their Content-Type wins over text/plain), and our own
 * framing: Connection: close and Content-Length, whatever the caller said about those.
 */
export function formatResponse(status: number, headers: Record<string, string>, body: string): string {
  return `HTTP/1.1 ${status} ${statusText(status)}\r\n${headerLines(responseHeaders(headers, body))}\r\n${body}`;
}

/** The caller's headers with our own framing and a default Content-Type. */
export function responseHeaders(headers: Record<string, string>, body: string): Record<string, string> {
  const own: Record<string, string> = {};
  let typed = false;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
    if (lower === 'content-type') typed = true;
    own[name] = headers[name];
  }
  own.Connection = 'close';
  if (!typed) own['Content-Type'] = 'text/plain; charset=utf-8';
  own['Content-Length'] = String(Buffer.byteLength(body));
  return own;
}

/** A refusal: status, headers and a human-readable reason sent as the text/plain body. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  reason: string;
}

/** The bytes of a refused handshake. */
export function formatReject(refusal: Refusal): string {
  return formatResponse(refusal.status, refusal.headers, `${refusal.reason}\n`);
}
