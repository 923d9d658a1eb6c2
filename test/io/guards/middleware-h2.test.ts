// Express 5 middleware (`use`) before an HTTP/2 extended CONNECT, through the real endpoint
// (src/io/guards/middleware-h2.ts). The same scenarios run on Express 4 in
// test/integration/express4-h2.test.ts.
import { middlewareOverH2Cases } from '../../helpers/h2-middleware-cases';

middlewareOverH2Cases(5);
