'use strict';
// `npm run build`: compiles src/ to CommonJS in dist/, then gives every entry of the package an
// ES module face: dist/<name>.mjs re-exports the CommonJS build (one copy of the code, one
// module state) and dist/<name>.d.mts types it as ESM, so that TypeScript under
// moduleResolution node16/nodenext sees ESM types for `import` and CJS types for `require`.
//
// ENTRIES is the one list of the package's entry points; package.json's "exports" must match it
// (checked below and by test/package.test.ts). An entry whose source does not exist yet is
// skipped with a warning.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');

/** name: the file under src/ and dist/; subpath: the key in package.json "exports". */
const ENTRIES = [
  { name: 'index', subpath: '.' },
  { name: 'protocol', subpath: './protocol' },
  { name: 'redis', subpath: './redis' },
];

/** The "exports" condition object package.json must have for an entry. */
function exportsFor(name) {
  return {
    import: { types: `./dist/${name}.d.mts`, default: `./dist/${name}.mjs` },
    require: { types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` },
  };
}

/**
 * package.json "typesVersions": for TypeScript's old node10 resolution, which ignores
 * "exports", each subpath's CommonJS types (the root entry is "types").
 */
function typesVersionsFor() {
  const map = {};
  for (const { name, subpath } of ENTRIES) if (subpath !== '.') map[subpath.slice(2)] = [`dist/${name}.d.ts`];
  return { '*': map };
}

/** Differences between package.json and ENTRIES, as messages (none when they agree). */
function exportsMismatches(pkg) {
  const problems = [];
  if (JSON.stringify(pkg.typesVersions) !== JSON.stringify(typesVersionsFor())) {
    problems.push(`package.json typesVersions should be ${JSON.stringify(typesVersionsFor())}`);
  }
  const exp = pkg.exports ?? {};
  for (const { name, subpath } of ENTRIES) {
    if (JSON.stringify(exp[subpath]) !== JSON.stringify(exportsFor(name))) {
      problems.push(`package.json exports["${subpath}"] should be ${JSON.stringify(exportsFor(name))}`);
    }
  }
  const known = new Set([...ENTRIES.map((e) => e.subpath), './package.json']);
  for (const key of Object.keys(exp)) if (!known.has(key)) problems.push(`package.json exports["${key}"] is not in ENTRIES`);
  return problems;
}

/** ESM wrapper source for the CommonJS module dist/<name>.js, with its export names. */
function esmWrapper(name, names) {
  return [
    `import cjs from './${name}.js';`,
    ...names.map((n) => `export const ${n} = cjs.${n};`),
    'export default cjs;',
    '',
  ].join('\n');
}

/** ESM types: the same declarations as dist/<name>.d.ts, and the module object as default. */
function esmTypes(name) {
  return [`export * from './${name}.js';`, `import cjs from './${name}.js';`, 'export default cjs;', ''].join('\n');
}

/** Runs tsc on tsconfig.build.json; returns the absolute paths of the files it wrote. */
function compile() {
  const run = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--listEmittedFiles'], {
    cwd: root,
    encoding: 'utf8',
  });
  const emitted = new Set();
  for (const line of (run.stdout ?? '').split('\n')) {
    if (line.startsWith('TSFILE: ')) emitted.add(path.resolve(line.slice('TSFILE: '.length).trim()));
    else if (line.trim() !== '') console.log(line);
  }
  if (run.stderr) process.stderr.write(run.stderr);
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`scripts/build.js: tsc failed (exit ${run.status})`);
  return emitted;
}

/** Deletes the files under dir that are not in keep, then the folders left empty. */
function prune(dir, keep) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(file, keep);
      if (fs.readdirSync(file).length === 0) fs.rmdirSync(file);
    } else if (!keep.has(file)) fs.rmSync(file, { force: true });
  }
}

function build() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const problems = exportsMismatches(pkg);
  if (problems.length > 0) throw new Error(`scripts/build.js: ${problems.join('; ')}`);

  // tsc overwrites dist/ in place (never removed, so a process loading the package meanwhile
  // finds it); what it did not write this time, files of an earlier layout or source maps, is
  // deleted afterwards so that it cannot reach `npm pack`.
  const keep = compile();
  for (const { name, subpath } of ENTRIES) {
    if (!fs.existsSync(path.join(root, 'src', `${name}.ts`))) {
      console.warn(`scripts/build.js: warning: src/${name}.ts does not exist; entry "${subpath}" skipped`);
      continue;
    }
    const names = Object.keys(require(path.join(dist, `${name}.js`))).filter((n) => n !== '__esModule' && n !== 'default');
    for (const n of names) {
      if (!/^[A-Za-z_$][\w$]*$/.test(n)) throw new Error(`scripts/build.js: dist/${name}.js exports "${n}", not an identifier`);
    }
    for (const [file, text] of [
      [`${name}.mjs`, esmWrapper(name, names)],
      [`${name}.d.mts`, esmTypes(name)],
    ]) {
      fs.writeFileSync(path.join(dist, file), text);
      keep.add(path.join(dist, file));
    }
  }
  prune(dist, keep);
}

module.exports = { ENTRIES, exportsFor, typesVersionsFor, exportsMismatches };

if (require.main === module) {
  try {
    build();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
