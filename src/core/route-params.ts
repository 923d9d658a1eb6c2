// Route params typed from the path, at compile time only: a type-level reading of
// path-to-regexp 8 (Express 5) syntax. `:name` is a string, `*name` a string[] (the
// segments), anything inside a `{...}` group may be absent; `\` escapes a character and
// `:"any name"` quotes one. Types only: nothing here exists at run time.
//
// The parser is conservative: a path it reads as invalid is one path-to-regexp rejects too
// (reserved characters, a missing name, unbalanced braces, no leading "/"); names with
// non-ASCII characters are read approximately, never refused.

/** Params when the path is not a literal type (a `string` variable, or no path at all). */
export type LooseParams = Record<string, string | string[] | undefined>;

/** ASCII characters that end an unquoted name (every printable one but letters, digits, `_`, `$`). */
type NameEnd =
  | ' ' | '!' | '"' | '#' | '%' | '&' | "'" | '(' | ')' | '*' | '+' | ',' | '-' | '.' | '/'
  | ':' | ';' | '<' | '=' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '`' | '{' | '|' | '}' | '~'
  | '\t' | '\n' | '\r';
type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
/** Characters path-to-regexp 8 reserves outside a name (Express 4's modifiers and regexps). */
type Reserved = '(' | ')' | '[' | ']' | '+' | '?' | '!';

/** Why a reserved character is refused, with the Express 5 form of the Express 4 pattern. */
type ReservedWhy<C extends string> = C extends '?'
  ? '"?" (Express 4 optional param: write "{/:name}" for "/:name?")'
  : C extends '(' | ')'
    ? `"${C}" (Express 4 regexp param: write "/:id" and check the value in use or verify)`
    : C extends '+'
      ? '"+" (Express 4 repeated param: write "/*name" for "/:name+")'
      : `"${C}", reserved in Express 5 paths (escape it as "\\${C}")`;

type Kind = 'param' | 'wildcard';
interface Token<N extends string = string, K extends Kind = Kind, O extends boolean = boolean> {
  name: N;
  kind: K;
  optional: O;
}
/** A path the parser refuses, with the reason. */
interface Invalid<R extends string = string> {
  invalid: R;
}

/** Scans the text between params; `Depth` counts the open `{` groups. */
type Scan<S extends string, Depth extends 0[], Acc extends Token> = S extends `\\${infer R}`
  ? R extends `${string}${infer After}`
    ? Scan<After, Depth, Acc>
    : Invalid<'a "\\" at the end'>
  : S extends `:${infer R}`
    ? ReadName<R, 'param', Depth, Acc>
    : S extends `*${infer R}`
      ? ReadName<R, 'wildcard', Depth, Acc>
      : S extends `{${infer R}`
        ? Scan<R, [0, ...Depth], Acc>
        : S extends `}${infer R}`
          ? Depth extends [0, ...infer Outer extends 0[]]
            ? Scan<R, Outer, Acc>
            : Invalid<'an unmatched "}"'>
          : S extends `${infer C}${infer R}`
            ? C extends Reserved
              ? Invalid<ReservedWhy<C>>
              : Scan<R, Depth, Acc>
            : Depth extends []
              ? Acc
              : Invalid<'an unclosed "{"'>;

type ReadName<S extends string, K extends Kind, Depth extends 0[], Acc extends Token> = S extends `"${infer R}`
  ? ReadQuoted<R, K, Depth, Acc, ''>
  : S extends `${infer C}${string}`
    ? C extends NameEnd | Digit
      ? Invalid<NoName<K>>
      : ReadPlain<S, K, Depth, Acc, ''>
    : Invalid<NoName<K>>;
type NoName<K extends Kind> = K extends 'param' ? 'a ":" without a name' : 'a "*" without a name (Express 4 wildcard: write "/*path" for "/*")';

type ReadPlain<S extends string, K extends Kind, Depth extends 0[], Acc extends Token, N extends string> = S extends `${infer C}${infer R}`
  ? C extends NameEnd
    ? Scan<S, Depth, Acc | Token<N, K, Depth extends [] ? false : true>>
    : ReadPlain<R, K, Depth, Acc, `${N}${C}`>
  : Scan<S, Depth, Acc | Token<N, K, Depth extends [] ? false : true>>;

type ReadQuoted<S extends string, K extends Kind, Depth extends 0[], Acc extends Token, N extends string> = S extends `"${infer R}`
  ? N extends ''
    ? Invalid<'an empty quoted name'>
    : Scan<R, Depth, Acc | Token<N, K, Depth extends [] ? false : true>>
  : S extends `\\${infer C}${infer R}`
    ? ReadQuoted<R, K, Depth, Acc, `${N}${C}`>
    : S extends `${infer C}${infer R}`
      ? ReadQuoted<R, K, Depth, Acc, `${N}${C}`>
      : Invalid<'an unterminated quoted name'>;

/** The tokens of one literal path (a union of Token), or Invalid. */
type Parse<P extends string> = P extends `/${string}` ? Scan<P, [], never> : Invalid<'a path that does not start with "/"'>;

type ValueOf<K extends Kind> = K extends 'wildcard' ? string[] : string;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The params of one valid literal path: required names, then the ones inside groups. */
type OnePath<T extends Token> = Simplify<
  { [N in RequiredNames<T>]: ValueOf<Extract<T, { name: N }>['kind']> } & {
    [N in Exclude<T['name'], RequiredNames<T>>]?: ValueOf<Extract<T, { name: N }>['kind']>;
  }
>;
/** Names that occur outside every group at least once. */
type RequiredNames<T extends Token> = T extends Token<infer N, Kind, false> ? N : never;

/** The tokens of each valid path of a union. */
type TokensOf<P extends string> = P extends unknown ? (Parse<P> extends infer T extends Token ? T : never) : never;
/** Params for a union of paths (the `path: [...]` list): a name missing from one of them may be absent. */
type ManyPaths<P extends string> = Simplify<
  { [N in RequiredInAll<P>]: ValueIn<P, N> } & { [N in Exclude<TokensOf<P>['name'], RequiredInAll<P>>]?: ValueIn<P, N> }
>;
type ValueIn<P extends string, N extends string> = P extends unknown ? ValueOf<Extract<TokensOf<P>, { name: N }>['kind']> : never;
/** The paths of the union where a name may be absent. */
type OptionalIn<P extends string, N extends string> = P extends unknown ? (N extends RequiredNames<TokensOf<P>> ? never : P) : never;
/** Names required in every path of the union. */
type RequiredInAll<P extends string, N extends string = TokensOf<P>['name']> = N extends unknown
  ? [OptionalIn<P, N>] extends [never]
    ? N
    : never
  : never;

type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/**
 * The params of a path type: `ParamsOf<'/rooms/:room'>` is `{ room: string }`,
 * `ParamsOf<'/files/*path'>` is `{ path: string[] }`, `ParamsOf<'/users{/:id}'>` is
 * `{ id?: string }`. A union of paths (the `path: [...]` list) gives the params any of them
 * may carry; `string` (a non-literal path) gives LooseParams.
 */
export type ParamsOf<P extends string> = string extends P
  ? LooseParams
  : [P] extends [never]
    ? LooseParams
    : [Extract<Parse<P>, Invalid>] extends [never]
      ? true extends IsUnion<P>
        ? ManyPaths<P>
        : OnePath<TokensOf<P>>
      : LooseParams;

/**
 * The path itself when path-to-regexp 8 accepts it, otherwise a message type, so that an
 * Express 4 pattern such as "/chat/:room?" is a compile error. A non-literal string passes.
 */
export type CheckPath<P extends string> = string extends P
  ? P
  : P extends unknown
    ? [Parse<P>] extends [never] // valid, without params
      ? P
      : Parse<P> extends Invalid<infer Why>
        ? `wsgate: invalid path, ${Why}; routes use Express 5 syntax (docs/routes.md)`
        : P
    : never;
