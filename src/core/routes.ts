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

/**
 * Builds a matcher for one pattern or a list of them; no pattern matches every path. The
 * params of a match are in a fresh object without a prototype: a param named "__proto__"
 * or "constructor" is an own property like any other, and a missing one reads undefined.
 */
export function compilePath(path: string | readonly string[] | undefined, options: RouteOptions = {}): PathMatcher {
  if (path === undefined) return () => Object.create(null) as Record<string, string | string[]>;
  const patterns = typeof path === 'string' ? [path] : path;
  for (const pattern of patterns) {
    // "ws" would compile but never match a request path: say so at startup instead.
    if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
      throw new TypeError(`path must start with "/": ${JSON.stringify(pattern)}`);
    }
  }
  const matchOptions = { decode: safeDecode, sensitive: options.caseSensitive ?? false, trailing: !options.strict, end: true };
  const matchers = patterns.map((pattern) => compileOne(pattern, matchOptions));
  return (pathname) => {
    for (const m of matchers) {
      // path-to-regexp makes a new null-prototype object per match: it is handed on as is.
      const result = m(pathname);
      if (result) return result.params;
    }
    return null;
  };
}

function compileOne(pattern: string, matchOptions: Parameters<typeof match>[1]): MatchFunction<Record<string, string | string[]>> {
  try {
    return match(pattern, matchOptions);
  } catch (err) {
    // Only a refused pattern is read as Express 4: a valid Express 5 pattern is never second-guessed.
    const why = err instanceof Error ? err.message : String(err);
    const old = fromExpress4(pattern);
    if (old === null) throw new TypeError(`path ${JSON.stringify(pattern)}: ${why}`, { cause: err });
    const write = old.path === null ? 'they take no regexps, so match with params and check the values in use or verify' : `write ${JSON.stringify(old.path)}`;
    const check = old.checks.length > 0 ? ` and check ${old.checks.join(', ')} in use or verify` : '';
    throw new TypeError(
      `path ${JSON.stringify(pattern)} is Express 4 syntax: ${old.forms.join(', ')}. ` +
        `Routes use Express 5 syntax (path-to-regexp 8): ${write}${check} (see docs/routes.md)`,
      { cause: err },
    );
  }
}

// path-to-regexp 8's name characters.
const ID_START = /^[$_\p{ID_Start}]$/u;
const ID_CONTINUE = /^[$\u200c\u200d\p{ID_Continue}]$/u;

/** An Express 4 pattern read as such: its forms, and its Express 5 spelling when there is one. */
export interface Express4Pattern {
  /** The Express 4 forms found, described: `":room?" (an optional param)`. */
  forms: string[];
  /** The same route in Express 5 syntax, or null when it has no direct translation. */
  path: string | null;
  /** What the Express 5 route no longer checks by itself (a param's regexp). */
  checks: string[];
}

/**
 * Reads a pattern as Express 4 (path-to-regexp 0.1) syntax: `:name?`, `:name*`, `:name+`,
 * `:name(regexp)`, an unnamed `*`, a `?` after a character. Null when it has none of these.
 */
export function fromExpress4(pattern: string): Express4Pattern | null {
  const chars = [...pattern];
  const forms: string[] = [];
  const checks: string[] = [];
  let out = '';
  let translatable = true;
  let wildcards = 0;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    const next = chars[i + 1];
    if (c === '\\') {
      out += c + (next ?? '');
      i++;
      continue;
    }
    if (c === '*' && next === '"') {
      // A quoted Express 5 wildcard name, copied as it is.
      const end = closingQuote(chars, i + 1);
      out += chars.slice(i, end + 1).join('');
      i = end;
      continue;
    }
    if (c === ':' && (next === '"' || (next !== undefined && ID_START.test(next)))) {
      // The param as written (":name" or Express 5's quoted ':"name"'), then Express 4's suffixes.
      let j = i + 1;
      let name: string;
      if (next === '"') {
        const end = closingQuote(chars, j);
        name = chars.slice(j, end + 1).join('');
        j = end + 1;
      } else {
        name = '';
        while (j < chars.length && ID_CONTINUE.test(chars[j])) name += chars[j++];
      }
      const key = next === '"' ? name.slice(1, -1) : name;
      if (chars[j] === '(') {
        const end = closingParen(chars, j);
        if (end === -1) {
          translatable = false;
          out += `:${name}`;
          i = j - 1;
          continue;
        }
        const regexp = chars.slice(j, end + 1).join('');
        forms.push(`":${name}${regexp}" (a param with a regexp)`);
        checks.push(`req.params.${key} against ${regexp}`);
        j = end + 1;
      }
      const modifier = chars[j];
      const slash = out.endsWith('/') ? '/' : '';
      const before = slash ? out.slice(0, -1) : out;
      if (modifier === '?') {
        forms.push(`":${name}?" (an optional param)`);
        out = `${before}{${slash}:${name}}`;
      } else if (modifier === '*') {
        forms.push(`":${name}*" (zero or more segments)`);
        out = `${before}{${slash}*${name}}`;
      } else if (modifier === '+') {
        forms.push(`":${name}+" (one or more segments)`);
        out += `*${name}`;
      } else {
        out += `:${name}`;
        i = j - 1;
        continue;
      }
      i = j;
      continue;
    }
    if (c === '*' && !(next !== undefined && ID_START.test(next))) {
      forms.push('"*" (an unnamed wildcard)');
      wildcards++;
      const name = wildcards === 1 ? 'path' : `path${wildcards}`;
      // Quoted when a name character follows, which would otherwise lengthen the name.
      out += next !== undefined && ID_CONTINUE.test(next) ? `*"${name}"` : `*${name}`;
      continue;
    }
    if (c === '(') {
      const end = closingParen(chars, i);
      const group = end === -1 ? '(' : chars.slice(i, end + 1).join('');
      forms.push(`"${group}" (a regexp group)`);
      translatable = false;
      out += group;
      i += [...group].length - 1;
      continue;
    }
    if (c === '?' && out.length > 0 && !'/{}()"'.includes(out[out.length - 1])) {
      // "/colou?r": the character before is optional.
      const last = [...out].pop()!;
      forms.push(`"${last}?" (an optional character)`);
      out = `${out.slice(0, out.length - last.length)}{${last}}`;
      continue;
    }
    if ('()[]+?!'.includes(c)) {
      forms.push(`"${c}" (${c === '(' || c === ')' ? 'a regexp group' : 'a regexp character'})`);
      translatable = false;
    }
    out += c;
  }
  if (forms.length === 0) return null;
  return { forms: [...new Set(forms)], path: translatable && parses(out) ? out : null, checks };
}

function parses(pattern: string): boolean {
  try {
    match(pattern);
    return true;
  } catch {
    return false;
  }
}

/** The index of the '"' closing the one at `open`, skipping escapes; the last index if none. */
function closingQuote(chars: string[], open: number): number {
  let j = open + 1;
  while (j < chars.length && chars[j] !== '"') j += chars[j] === '\\' ? 2 : 1;
  return Math.min(j, chars.length - 1);
}

/** The index of the ")" closing the "(" at `open`, skipping escapes and nested groups; -1 if none. */
function closingParen(chars: string[], open: number): number {
  let depth = 0;
  for (let i = open; i < chars.length; i++) {
    if (chars[i] === '\\') i++;
    else if (chars[i] === '(') depth++;
    else if (chars[i] === ')' && --depth === 0) return i;
  }
  return -1;
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
