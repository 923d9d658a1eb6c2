// Path matching with path-to-regexp, the matcher Express uses, with Express's defaults:
// case-insensitive, trailing slash allowed, params decoded.
import { match, type MatchFunction } from 'path-to-regexp';

export type PathMatcher = (pathname: string) => Record<string, string | string[]> | null;

export interface RouteOptions {
  caseSensitive?: boolean;
  /** When true, "/ws/" does not match "/ws". */
  strict?: boolean;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Builds a matcher for one pattern or a list of them; no pattern matches every path. */
export function compilePath(path: string | readonly string[] | undefined, options: RouteOptions = {}): PathMatcher {
  if (path === undefined) return () => ({});
  const patterns = typeof path === 'string' ? [path] : path;
  for (const pattern of patterns) {
    // "ws" would compile but never match a request path: say so at startup instead.
    if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
      throw new TypeError(`path must start with "/": ${JSON.stringify(pattern)}`);
    }
  }
  const matchers: MatchFunction<Record<string, string | string[]>>[] = patterns.map((pattern) =>
    match(pattern, { decode: safeDecode, sensitive: options.caseSensitive ?? false, trailing: !options.strict, end: true }),
  );
  return (pathname) => {
    for (const m of matchers) {
      const result = m(pathname);
      if (result) return { ...result.params } as Record<string, string | string[]>;
    }
    return null;
  };
}

/** Splits a request target into its path and parsed query; never throws. */
export function splitUrl(url: string | undefined): { pathname: string; query: Record<string, string | string[]> } {
  const target = url ?? '/';
  const q = target.indexOf('?');
  const pathname = q === -1 ? target : target.slice(0, q);
  const query: Record<string, string | string[]> = Object.create(null);
  if (q !== -1) {
    for (const [key, value] of new URLSearchParams(target.slice(q + 1))) {
      const prev = query[key];
      if (prev === undefined) query[key] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else query[key] = [prev, value];
    }
  }
  return { pathname: pathname || '/', query };
}
