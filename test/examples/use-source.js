// Preloaded (node -r) into the example processes the tests start: 'wsgate', 'wsgate/redis'
// and 'wsgate/protocol' resolve to the TypeScript source, as jest's moduleNameMapper does,
// instead of the last build in dist/. Needs ts-node's register hook loaded first.
const Module = require('node:module');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const entries = {
  wsgate: 'src/index.ts',
  'wsgate/redis': 'src/redis.ts',
  'wsgate/protocol': 'src/protocol.ts',
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (Object.prototype.hasOwnProperty.call(entries, request)) return path.join(root, entries[request]);
  return resolve.call(this, request, ...rest);
};
