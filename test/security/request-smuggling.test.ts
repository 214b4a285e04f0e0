/**
 * Case 41 (decision part): the smuggling payloads themselves are refused by Node's parser before
 * any decision (HTTP-level tests). What the decision guarantees is that the client's framing
 * never reaches the upstream: `Transfer-Encoding`, `TE` and `Trailer` are dropped, so the
 * forwarder frames the body it streams itself and the two hops cannot disagree (RFC 9112 §6.3).
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { requestFacts, testDecider } from '../helpers/decide-fixtures.js';

const routes = [route({ name: 'public', pathPrefix: '/', auth: null })];

t.test('the client framing headers are never forwarded', async (t) => {
  const cases: [string, string][][] = [
    [['Transfer-Encoding', 'chunked']],
    [['transfer-encoding', 'chunked'], ['Transfer-Encoding', 'identity']],
    [['Transfer_Encoding', 'chunked']],
    [['TE', 'trailers'], ['Trailer', 'Content-Length']],
  ];
  for (const lines of cases) {
    const { decide } = testDecider({ routes });
    const d = await decide(requestFacts({ method: 'POST', url: '/x', headers: [['Host', 'h'], ...lines] }));
    if (!d.allow) {
      t.fail(d.error.code);
      continue;
    }
    t.strictSame(Object.keys(d.headers).sort(), ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id'], JSON.stringify(lines));
  }
});

t.test('a single Content-Length is kept so the body is framed the same way', async (t) => {
  const { decide } = testDecider({ routes });
  const d = await decide(requestFacts({ method: 'POST', url: '/x', headers: [['Host', 'h'], ['Content-Length', '5']] }));
  t.equal(d.allow && d.headers['content-length'], '5');
});
