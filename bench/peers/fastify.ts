/**
 * The Node peer of the side-by-side benchmark: a JWT-checking reverse proxy built the way a Node
 * team would build one from well-known packages — fastify, @fastify/jwt (fast-jwt underneath,
 * with its verified-token cache on) and @fastify/http-proxy (undici, keep-alive pool). It checks
 * a `Bearer` JWT's signature (ES256, a PEM public key), `iss`, `aud` and `exp`, answers 401
 * otherwise, and forwards with the tenant id as a header. Prints its port on stdout.
 *
 *   node dist/bench/peers/fastify.js <upstream URL> <public key PEM file> <issuer> <audience>
 */
import { readFileSync } from 'node:fs';
import fastifyHttpProxy from '@fastify/http-proxy';
import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';

const [upstream, publicKeyFile, issuer, audience] = process.argv.slice(2);
if (upstream === undefined || publicKeyFile === undefined || issuer === undefined || audience === undefined) {
  console.error('usage: fastify.js <upstream URL> <public key PEM file> <issuer> <audience>');
  process.exit(2);
}

const app = Fastify({ logger: false });
await app.register(fastifyJwt, {
  secret: { public: readFileSync(publicKeyFile) },
  verify: { algorithms: ['ES256'], allowedIss: issuer, allowedAud: audience, cache: true },
});
app.addHook('onRequest', async (request, reply) => {
  try {
    await request.jwtVerify();
  } catch {
    return reply.code(401).send({ error: 'unauthorized' });
  }
});
await app.register(fastifyHttpProxy, {
  upstream,
  replyOptions: {
    rewriteRequestHeaders: (request, headers) => ({ ...headers, 'x-auth-tenant-id': String((request.user as { tenantId?: unknown }).tenantId) }),
  },
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${new URL(address).port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
