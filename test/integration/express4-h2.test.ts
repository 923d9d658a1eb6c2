// Express 4 (the express4 alias) running the `use` middleware before an HTTP/2 extended
// CONNECT: Express 4 sets prototypes in its init middleware rather than in app.handle; the
// HTTP/2 runner's rebased app.request/app.response must work there too.
jest.mock('express', () => jest.requireActual('express4'));

import { middlewareOverH2Cases } from '../helpers/h2-middleware-cases';

middlewareOverH2Cases(4);
