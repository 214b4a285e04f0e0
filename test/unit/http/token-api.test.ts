import t from 'tap';
import { GatewayError } from '../../../src/errors.js';
import { startTokenScenario } from '../../helpers/token-scenario.js';

/** How the routes map the service's failures, on a fake service that can fail on demand. */

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };

t.test('service failures keep each route shape: 429 with Retry-After, 500 with nothing internal', async (t) => {
  const s = await startTokenScenario({ fake: true });
  t.teardown(() => s.close());
  const fake = s.fake!;
  const oauth = () => fetch(`${s.gateway.url}/oauth/token`, { method: 'POST', headers: FORM, body: 'grant_type=client_credentials&client_id=a&client_secret=b' });
  const v2 = () => fetch(`${s.gateway.url}/identity/resources/auth/v2/api-token`, { method: 'POST', headers: JSON_TYPE, body: '{"clientId":"a","secret":"b"}' });

  fake.failNext(new GatewayError('ERR_TOKEN_RATE_LIMITED', 'test', { retryAfterSeconds: 12.2 }));
  const limited = await oauth();
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('retry-after'), '13');
  t.match(await limited.json(), { error: 'invalid_request' });

  fake.failNext(new GatewayError('ERR_TOKEN_RATE_LIMITED', 'test', { retryAfterSeconds: 5 }));
  const limitedV2 = await v2();
  t.equal(limitedV2.status, 429);
  t.equal(limitedV2.headers.get('retry-after'), '5');
  t.match(await limitedV2.json(), { errors: ['Too many requests'] });

  fake.failNext(new Error('database exploded: SELECT secret FROM ...'));
  const broken = await oauth();
  t.equal(broken.status, 500);
  const text = await broken.text();
  t.notMatch(text, /database|SELECT/, 'nothing internal reaches the client');
  t.match(JSON.parse(text), { error: 'server_error' });

  fake.failNext(new Error('database exploded'));
  const brokenV2 = await v2();
  t.equal(brokenV2.status, 500);
  t.match(await brokenV2.json(), { errors: ['Internal error'] });

  t.strictSame(
    fake.calls.exchanges.map((c) => c.peer),
    ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'],
    'the socket peer, never X-Forwarded-For, is the caller (case 39)',
  );
});
