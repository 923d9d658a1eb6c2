// The public types, pinned: the fixtures in this folder compile against the source types
// ('wsgate' -> src/index.ts) with no error, so every `@ts-expect-error` line in them is still
// an error (an unused one is itself an error, TS2578). A few refusals are also checked for
// their message: a path in Express 4 syntax must say how Express 5 writes it.
import path from 'node:path';
import ts from 'typescript';

const configPath = path.join(__dirname, 'tsconfig.json');
const VIRTUAL = path.join(__dirname, '__messages__.ts');

/** Lines whose one error must mention every string given. */
const EXPECTED: [code: string, ...mentions: string[]][] = [
  ["attachWebSocket(server, () => {}, { path: '/chat/:room?' });", 'Express 4 optional param', '{/:name}', 'docs/routes.md'],
  ["attachWebSocket(server, () => {}, { path: '/files/*' });", 'Express 4 wildcard', '/*path'],
  ["attachWebSocket(server, () => {}, { path: '/:id(\\\\d+)' });", 'Express 4 regexp param', 'use or verify'],
  ["attachWebSocket(server, () => {}, { path: ['/ok', 'ws'] });", 'does not start with'],
  ["attachWebSocket(server, () => {}, { path: '/ws', maxPayLoad: 1 });", "'maxPayLoad' does not exist"],
];
const virtualSource = [
  "import http from 'node:http';",
  "import { attachWebSocket } from 'wsgate';",
  'declare const server: http.Server;',
  ...EXPECTED.map(([code]) => code),
  '',
].join('\n');
const FIRST_LINE = 3; // 0-based line of EXPECTED[0]

function compile(): { fixtures: readonly ts.Diagnostic[]; virtual: readonly ts.Diagnostic[] } {
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error(`cannot read ${configPath}`);
  const host = ts.createCompilerHost(parsed.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    path.resolve(name) === VIRTUAL ? ts.createSourceFile(name, virtualSource, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === VIRTUAL || fileExists(name);
  const program = ts.createProgram({ rootNames: [...parsed.fileNames, VIRTUAL], options: parsed.options, host });
  const all = [...program.getConfigFileParsingDiagnostics(), ...ts.getPreEmitDiagnostics(program)];
  const isVirtual = (d: ts.Diagnostic) => d.file !== undefined && path.resolve(d.file.fileName) === VIRTUAL;
  return { fixtures: all.filter((d) => !isVirtual(d)), virtual: all.filter(isVirtual) };
}

function format(diagnostics: readonly ts.Diagnostic[]): string[] {
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${path.relative(__dirname, d.file.fileName)}(${line + 1},${character + 1}): TS${d.code} ${text}`;
  });
}

describe('public types', () => {
  let result: ReturnType<typeof compile>;
  beforeAll(() => {
    result = compile();
  }, 120_000);

  test('the fixtures compile, every @ts-expect-error still an error', () => {
    expect(format(result.fixtures)).toEqual([]);
  });

  test.each(EXPECTED.map((e, i) => [e[0], i, e.slice(1)] as const))('%s is refused, saying why', (_code, index, mentions) => {
    const onLine = result.virtual.filter((d) => d.file!.getLineAndCharacterOfPosition(d.start!).line === FIRST_LINE + index);
    expect(onLine).toHaveLength(1);
    const text = ts.flattenDiagnosticMessageText(onLine[0].messageText, '\n');
    for (const mention of mentions) expect(text).toContain(mention);
  });

  test('nothing else in the message checks fails', () => {
    const lines = new Set(EXPECTED.map((_e, i) => FIRST_LINE + i));
    const stray = result.virtual.filter((d) => !lines.has(d.file!.getLineAndCharacterOfPosition(d.start!).line));
    expect(format(stray)).toEqual([]);
  });
});
