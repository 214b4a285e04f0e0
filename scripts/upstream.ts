/**
 * `npm run upstream`: a service for the gateway to forward to while you try it out. It answers
 * every request with JSON of the method, path and headers it received, so the identity headers
 * the gateway injected are visible. Listens on 127.0.0.1:3000 (`UPSTREAM_PORT` moves it), the
 * upstream `npm start` forwards to.
 */
import { startEchoUpstream } from './echo-upstream.js';

const port = Number(process.env.UPSTREAM_PORT ?? 3000);
const upstream = await startEchoUpstream({ host: '127.0.0.1', port });
process.stdout.write(`echo upstream listening on ${upstream.url}: it answers with the request it received (Ctrl-C stops it)\n`);
process.once('SIGINT', () => void upstream.close().then(() => process.exit(0)));
process.once('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
