/**
 * Case 48: requests with random paths, garbage tokens, random `kid`s, random identities and random
 * methods must not grow the metrics: the series count after 2 000 of them equals the count after
 * the first 100, and no label value is a path, a token, a kid or an id — only route names, method
 * and status classes, credential kinds and reason codes (Prometheus cardinality guidance).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { flood, metricSeries, startProcessScenario, watchResources, type FloodRequest } from '../helpers/process-resources.js';
import { rawExchange } from '../helpers/raw-http.js';
import { send, startScenario, type Scenario } from '../helpers/scenario.js';
import { craftToken } from '../helpers/tokens.js';

const TOTAL = 2000;
const FIRST = 100;
const CONCURRENCY = 25;
/** Known to Node's parser; all but the first seven fold into the `OTHER` method label. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'PURGE', 'MKCOL'];

const random = (bytes = 6) => randomBytes(bytes).toString('hex');

/** One kind of request: what it sends given a method, and every random string it used. */
type Kind = (s: Scenario, method: string, used: string[]) => Promise<unknown>;

const KINDS: Kind[] = [
  // A public route, random path.
  (s, method, used) => {
    const path = random();
    used.push(path);
    return send(`${s.gateway.url}/public/${path}`, { method });
  },
  // No route at all.
  (s, method, used) => {
    const path = random();
    used.push(path);
    return send(`${s.gateway.url}/${path}/${random()}`, { method });
  },
  // Garbage bearer token on a protected route.
  (s, method, used) => {
    const token = `${random(12)}.${random(24)}.${random(32)}`;
    used.push(token.slice(0, 24));
    return send(`${s.gateway.url}/api/${random()}`, { method, headers: [['authorization', `Bearer ${token}`]] });
  },
  // Garbage access token.
  (s, method, used) => {
    const token = random(40);
    used.push(token.slice(0, 24));
    return send(`${s.gateway.url}/api/x`, { method, headers: [['x-api-key', token]] });
  },
  // A validly signed token naming a random kid.
  async (s, method, used) => {
    const kid = `kid-${random()}`;
    used.push(kid);
    const token = await s.mint({ type: 'userAccessToken', header: { kid } });
    return send(`${s.gateway.url}/admin/${random()}`, { method, headers: [['x-api-key', token]] });
  },
  // A valid token of a random client, tenant and user.
  async (s, method, used) => {
    const ids = { sub: `client-${random()}`, tenantId: `tenant-${random()}`, userId: `user-${random()}`, jti: `jti-${random()}` };
    used.push(...Object.values(ids));
    const token = await s.mint({ type: 'userApiToken', claims: ids });
    used.push(token.split('.')[2]!.slice(0, 24));
    const path = random();
    used.push(path);
    return send(`${s.gateway.url}/api/${path}`, { method, headers: [['authorization', `Bearer ${token}`]] });
  },
  // A method no parser knows, on a raw socket: refused before any route.
  (s, _method, used) => {
    const method = `M${random(4).toUpperCase()}`;
    used.push(method);
    return rawExchange(s.gateway.port, `${method} /public/${random()} HTTP/1.1\r\nHost: x\r\n\r\n`);
  },
];

/** The series lines of the Prometheus text: every line that is not a comment. */
async function series(s: Scenario): Promise<string[]> {
  const res = await send(`${s.gateway.adminUrl}/metrics`);
  return res.body.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

function labelValues(line: string): string[] {
  return [...line.matchAll(/[a-zA-Z_]+="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
}

t.test(`${TOTAL} requests with random paths, tokens, kids, ids and methods do not add a series`, async (t) => {
  // Small caches, so evictions (a fixed label value of their own) show up within the first requests.
  const s = await startScenario({ config: { auth: { cache: { maxEntries: 10 }, negativeCache: { maxEntries: 10 } } } });
  t.teardown(() => s.close());
  const used: string[] = [];
  // The first requests cover every kind with every method, so every legitimate series exists.
  const plan = Array.from({ length: TOTAL }, (_, i) =>
    i < FIRST
      ? { kind: KINDS[i % KINDS.length]!, method: METHODS[Math.floor(i / KINDS.length) % METHODS.length]! }
      : { kind: KINDS[Math.floor(Math.random() * KINDS.length)]!, method: METHODS[Math.floor(Math.random() * METHODS.length)]! },
  );
  t.ok(KINDS.length * METHODS.length <= FIRST, 'the first requests cover every kind and method');
  const run = async (from: number, to: number) => {
    for (let i = from; i < to; i += CONCURRENCY) {
      await Promise.all(plan.slice(i, Math.min(i + CONCURRENCY, to)).map((p) => p.kind(s, p.method, used)));
    }
  };

  await run(0, FIRST);
  const early = await series(s);
  await run(FIRST, TOTAL);
  const late = await series(s);

  const name = (line: string) => line.slice(0, line.lastIndexOf(' '));
  t.equal(late.length, early.length, `series count unchanged (${early.length} after ${FIRST}, ${late.length} after ${TOTAL})`);
  t.strictSame(late.map(name).filter((n) => !early.map(name).includes(n)), [], 'no new series');

  const values = new Set(late.flatMap(labelValues));
  t.strictSame([...values].filter((v) => !/^[A-Za-z0-9_.+-]*$/.test(v)), [], 'every label value is a short fixed word: no path, no token');
  const text = late.join('\n');
  t.strictSame(used.filter((u) => text.includes(u)), [], 'no random path, token, kid, id or method in the metrics');
  t.match(text, /m2m_gateway_requests_total\{route="none",method="OTHER",status_class="4xx"\}/, 'unknown routes and methods fold into fixed labels');
});

/**
 * The case names 100 000; that many take minutes on a shared test machine, so the suite sends
 * 5 000 (still 50 times the caches below) unless M2M_FLOOD_REQUESTS asks for more.
 */
const FLOOD = Number(process.env.M2M_FLOOD_REQUESTS ?? 5000);
const WARM_UP = 2000;

/** Default process metrics (GC kinds, handle types) have label sets of prom-client's, not of any request. */
const requestDriven = (line: string) => !/^m2m_gateway_(nodejs|process)_/.test(line);
const seriesName = (line: string) => line.slice(0, line.lastIndexOf(' '));

t.test(`${FLOOD} requests with random paths, client ids, kids and tokens against a gateway process: the series count stays constant`, async (t) => {
  const s = await startProcessScenario(t, { config: { auth: { cache: { maxEntries: 100 }, negativeCache: { maxEntries: 100 } } } });
  await s.stillServes(t, 'before');
  // Valid tokens of random clients, tenants and users, signed ahead: signing is the client's cost, not the gateway's.
  const valid = await Promise.all(
    Array.from({ length: 200 }, () => s.mint({ type: 'userApiToken', claims: { sub: `client-${random()}`, tenantId: `tenant-${random()}`, userId: `user-${random()}` } })),
  );
  const sampled: string[] = [];
  const remember = (value: string, i: number) => {
    if (i % 100 === 0) sampled.push(value);
    return value;
  };
  const make = (i: number): FloodRequest => {
    switch (i % 6) {
      case 0:
        return { path: `/public/${remember(random(), i)}` };
      case 1:
        return { path: `/${remember(random(), i)}/${random()}` };
      case 2:
        return { path: `/api/${random()}`, headers: { authorization: `Bearer ${remember(craftToken({ alg: 'RS256', typ: 'JWT', kid: `kid-${random()}` }, { sub: random() }, 'c2ln'), i)}` } };
      case 3:
        return { path: '/api/x', headers: { 'x-api-key': remember(craftToken({ alg: 'ES256', kid: `kid-${random()}` }, { sub: random() }, 'c2ln'), i) } };
      case 4:
        return { path: `/api/${remember(random(), i)}`, headers: { 'x-api-key': random(40) } };
      default:
        return { path: `/api/${random()}`, headers: { authorization: `Bearer ${valid[i % valid.length]!}` } };
    }
  };
  const warm = await flood(s.gateway, WARM_UP, make);
  const early = (await metricSeries(s.gateway)).filter(requestDriven);
  const watch = await watchResources(s.gateway);
  const floodStarted = performance.now();
  const statuses = await flood(s.gateway, FLOOD - WARM_UP, make, { from: WARM_UP });
  t.comment(`${FLOOD - WARM_UP} requests after the warm-up in ${Math.round(performance.now() - floodStarted)} ms`);
  const late = (await metricSeries(s.gateway)).filter(requestDriven);
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...warm].map(([k, v]) => [k, v + (statuses.get(k) ?? 0)])))}`);

  t.equal(late.length, early.length, `series count unchanged (${early.length} after ${WARM_UP}, ${late.length} after ${FLOOD})`);
  t.strictSame(late.map(seriesName).filter((n) => !early.map(seriesName).includes(n)), [], 'no new series');
  const text = late.join('\n');
  t.strictSame(sampled.filter((u) => text.includes(u)), [], `none of ${sampled.length} sampled random paths, kids or tokens in the metrics`);
  await watch.settled(t, `${FLOOD} random requests`);
  await s.stillServes(t, 'after the flood');
});
