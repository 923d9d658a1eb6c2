// Route matching (path-to-regexp 8, Express 5 syntax, with Express's defaults), the startup
// error for Express 4 patterns, and params that cannot touch a prototype.
import { match } from 'path-to-regexp';
import { compilePath, fromExpress4, splitUrl } from '../../src/core/routes';

describe('compilePath: matching', () => {
  test('no path matches every path, with no params', () => {
    const m = compilePath(undefined);
    expect(m('/')).toEqual({});
    expect(m('/anything/at/all')).toEqual({});
  });

  test('an exact path; a list is tried in order', () => {
    const m = compilePath(['/a', '/b/:x', '/b/:y']);
    expect(m('/a')).toEqual({});
    expect(m('/b/1')).toEqual({ x: '1' });
    expect(m('/c')).toBeNull();
    expect(m('/a/more')).toBeNull();
  });

  test('named params are strings, wildcards arrays of segments, optional groups may be absent', () => {
    expect(compilePath('/rooms/:room')('/rooms/lobby')).toEqual({ room: 'lobby' });
    expect(compilePath('/files/*path')('/files/a/b/c.txt')).toEqual({ path: ['a', 'b', 'c.txt'] });
    const optional = compilePath('/users{/:id}');
    expect(optional('/users')).toEqual({});
    expect(optional('/users/7')).toEqual({ id: '7' });
    expect(Object.keys(optional('/users')!)).toEqual([]); // absent, not present and undefined
    expect(compilePath('/:file.:ext')('/report.pdf')).toEqual({ file: 'report', ext: 'pdf' });
    expect(compilePath('/a/\\:b/:c')('/a/:b/x')).toEqual({ c: 'x' });
  });

  test('params are decoded; a malformed escape is kept as it came', () => {
    expect(compilePath('/rooms/:room')('/rooms/caf%C3%A9%20au%20lait')).toEqual({ room: 'café au lait' });
    expect(compilePath('/rooms/:room')('/rooms/100%')).toEqual({ room: '100%' });
    expect(compilePath('/rooms/:room')('/rooms/%E0%A4%A')).toEqual({ room: '%E0%A4%A' });
    // An encoded "/" stays inside its segment; a wildcard decodes segment by segment.
    expect(compilePath('/rooms/:room')('/rooms/a%2Fb')).toEqual({ room: 'a/b' });
    expect(compilePath('/f/*path')('/f/a%2Fb/c%20d')).toEqual({ path: ['a/b', 'c d'] });
  });

  test('case-insensitive and trailing slash allowed by default, as in Express', () => {
    const m = compilePath('/Chat/:room');
    expect(m('/chat/Lobby')).toEqual({ room: 'Lobby' });
    expect(m('/CHAT/x/')).toEqual({ room: 'x' });
    expect(m('/chat/x//')).toBeNull();
  });

  test('caseSensitive and strict', () => {
    const m = compilePath('/Chat/:room', { caseSensitive: true, strict: true });
    expect(m('/Chat/x')).toEqual({ room: 'x' });
    expect(m('/chat/x')).toBeNull();
    expect(m('/Chat/x/')).toBeNull();
  });

  test('a path not starting with "/" is refused at startup', () => {
    expect(() => compilePath('ws')).toThrow(new TypeError('path must start with "/": "ws"'));
    expect(() => compilePath(['/ok', 42 as unknown as string])).toThrow(TypeError);
  });
});

describe('compilePath: params cannot reach a prototype', () => {
  test('"__proto__" and "constructor" as param names are own properties of a null-prototype object', () => {
    const params = compilePath('/:__proto__/:constructor/:hasOwnProperty')('/a/b/c')!;
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(Object.keys(params)).toEqual(['__proto__', 'constructor', 'hasOwnProperty']);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('a');
    expect(params.constructor).toBe('b');
    expect(({} as Record<string, unknown>).a).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('a');
  });

  test('"__proto__" as a value is only a string', () => {
    const params = compilePath('/rooms/:room')('/rooms/__proto__')!;
    expect(params.room).toBe('__proto__');
    expect(Object.getPrototypeOf(params)).toBeNull();
    const wild = compilePath('/f/*path')('/f/__proto__/constructor')!;
    expect(wild.path).toEqual(['__proto__', 'constructor']);
  });

  test('a name the path does not have reads undefined, not an inherited value', () => {
    for (const params of [compilePath('/rooms/:room')('/rooms/x')!, compilePath(undefined)('/')!]) {
      expect(Object.getPrototypeOf(params)).toBeNull();
      expect(params.constructor).toBeUndefined();
      expect(params.toString).toBeUndefined();
      expect('hasOwnProperty' in params).toBe(false);
    }
  });

  test('every match gets its own object', () => {
    const m = compilePath('/rooms/:room');
    const a = m('/rooms/a')!;
    (a as Record<string, unknown>).extra = 1;
    expect(m('/rooms/a')).toEqual({ room: 'a' });
  });
});

describe('Express 4 patterns: a startup TypeError naming the Express 5 form', () => {
  test.each([
    ['/chat/:room?', '":room?" (an optional param)', 'write "/chat{/:room}"'],
    ['/files/*', '"*" (an unnamed wildcard)', 'write "/files/*path"'],
    ['/:id(\\d+)', '":id(\\d+)" (a param with a regexp)', 'write "/:id" and check req.params.id against (\\d+) in use or verify'],
    ['/users/:id(\\d+)?', '":id(\\d+)" (a param with a regexp), ":id?" (an optional param)', 'write "/users{/:id}" and check req.params.id against (\\d+)'],
    ['/a/:rest*', '":rest*" (zero or more segments)', 'write "/a{/*rest}"'],
    ['/a/:rest+', '":rest+" (one or more segments)', 'write "/a/*rest"'],
    ['/colou?r', '"u?" (an optional character)', 'write "/colo{u}r"'],
    ['/*/:x?', '"*" (an unnamed wildcard), ":x?" (an optional param)', 'write "/*path{/:x}"'],
    ['/x/(foo|bar)', '"(foo|bar)" (a regexp group)', 'they take no regexps'],
  ])('%s', (pattern, form, advice) => {
    let error: unknown;
    try {
      compilePath(['/fine', pattern]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TypeError);
    const message = (error as Error).message;
    expect(message).toContain(`path ${JSON.stringify(pattern)} is Express 4 syntax: ${form}`);
    expect(message).toContain('Routes use Express 5 syntax (path-to-regexp 8)');
    expect(message).toContain(advice);
    expect(message).toContain('docs/routes.md');
    expect((error as Error).cause).toBeInstanceOf(Error); // path-to-regexp's own error
  });

  test('every suggested translation compiles and matches what Express 4 meant', () => {
    const translated = (pattern: string) => compilePath(fromExpress4(pattern)!.path!);
    expect(translated('/chat/:room?')('/chat')).toEqual({});
    expect(translated('/chat/:room?')('/chat/x')).toEqual({ room: 'x' });
    expect(translated('/files/*')('/files/a/b')).toEqual({ path: ['a', 'b'] });
    expect(translated('/:id(\\d+)')('/42')).toEqual({ id: '42' });
    expect(translated('/a/:rest*')('/a')).toEqual({});
    expect(translated('/a/:rest*')('/a/b/c')).toEqual({ rest: ['b', 'c'] });
    expect(translated('/a/:rest+')('/a')).toBeNull();
    expect(translated('/colou?r')('/color')).toEqual({});
    expect(translated('/colou?r')('/colour')).toEqual({});
  });

  test('valid Express 5 patterns are never read as Express 4', () => {
    for (const pattern of ['/chat{/:room}', '/files/*path', '/:id', '/a/\\?', '/:"quoted name"', '/x{/*rest}']) {
      expect(() => compilePath(pattern)).not.toThrow();
      expect(() => match(pattern)).not.toThrow();
    }
    expect(fromExpress4('/chat/:room')).toBeNull();
  });

  test('other refused patterns keep path-to-regexp\'s message, with the pattern', () => {
    expect(() => compilePath('/users/:')).toThrow(/^path "\/users\/:": Missing parameter name/);
    expect(() => compilePath('/a{/:b')).toThrow(/^path "\/a\{\/:b": Unexpected end/);
  });
});

describe('splitUrl', () => {
  test('path and query, repeated keys as arrays, in a null-prototype object', () => {
    const { pathname, query } = splitUrl('/ws?a=1&b=2&a=3&__proto__=x&constructor=y');
    expect(pathname).toBe('/ws');
    expect(query).toEqual({ a: ['1', '3'], b: '2', ['__proto__']: 'x', constructor: 'y' });
    expect(Object.getOwnPropertyDescriptor(query, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(query)).toBeNull();
    expect(splitUrl(undefined)).toEqual({ pathname: '/', query: {} });
    expect(splitUrl('?x=1').pathname).toBe('/');
  });
});
