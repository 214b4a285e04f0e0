import t from 'tap';
import { extractCredential } from '../../../src/proxy/extract.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

t.test('the one credential header is read from the raw lines', async (t) => {
  const cases: { name: string; raw: string[]; expected: { kind: 'apiKey' | 'bearer'; token: string } | undefined }[] = [
    { name: 'no credential header', raw: ['Host', 'h', 'Accept', '*/*'], expected: undefined },
    { name: 'an empty header list', raw: [], expected: undefined },
    { name: 'X-API-KEY', raw: ['X-API-KEY', JWT], expected: { kind: 'apiKey', token: JWT } },
    { name: 'x-api-key in lower case', raw: ['x-api-key', JWT], expected: { kind: 'apiKey', token: JWT } },
    { name: 'X-API-KEY with surrounding whitespace', raw: ['X-Api-Key', ` \t${JWT}\t `], expected: { kind: 'apiKey', token: JWT } },
    { name: 'Bearer', raw: ['Authorization', `Bearer ${JWT}`], expected: { kind: 'bearer', token: JWT } },
    { name: 'bearer in lower case', raw: ['authorization', `bearer ${JWT}`], expected: { kind: 'bearer', token: JWT } },
    { name: 'BEARER in upper case', raw: ['AUTHORIZATION', `BEARER ${JWT}`], expected: { kind: 'bearer', token: JWT } },
    { name: 'Bearer with several spaces (1*SP)', raw: ['Authorization', `Bearer   ${JWT}`], expected: { kind: 'bearer', token: JWT } },
    { name: 'Bearer with trailing whitespace', raw: ['Authorization', `Bearer ${JWT} \t`], expected: { kind: 'bearer', token: JWT } },
    { name: 'a token68 with every allowed character and padding', raw: ['Authorization', 'Bearer aZ09-._~+/=='], expected: { kind: 'bearer', token: 'aZ09-._~+/==' } },
    { name: 'Basic is no credential', raw: ['Authorization', 'Basic dXNlcjpwYXNz'], expected: undefined },
    { name: 'Digest is no credential', raw: ['Authorization', 'Digest username="x"'], expected: undefined },
    { name: 'a scheme shorter than bearer is no credential', raw: ['Authorization', 'Bear'], expected: undefined },
    { name: 'an empty Authorization is no credential', raw: ['Authorization', ''], expected: undefined },
    { name: 'an X-API-KEY spelled with underscores is not a credential', raw: ['X_API_KEY', JWT], expected: undefined },
    { name: 'a header whose value names a credential header is not one', raw: ['X-Note', 'Authorization'], expected: undefined },
  ];
  for (const c of cases) {
    t.strictSame(extractCredential(c.raw), c.expected, c.name);
  }
});

t.test('more than one credential line is ambiguous (400)', async (t) => {
  const cases: { name: string; raw: string[] }[] = [
    { name: 'X-API-KEY and Bearer', raw: ['X-API-KEY', JWT, 'Authorization', `Bearer ${JWT}`] },
    { name: 'X-API-KEY and Basic', raw: ['Authorization', 'Basic eDp5', 'x-api-key', JWT] },
    { name: 'two Authorization lines', raw: ['Authorization', `Bearer ${JWT}`, 'authorization', 'Bearer other'] },
    { name: 'two identical Authorization lines', raw: ['Authorization', `Bearer ${JWT}`, 'Authorization', `Bearer ${JWT}`] },
    { name: 'two X-API-KEY lines in different case', raw: ['X-API-KEY', JWT, 'x-Api-key', JWT] },
    { name: 'two empty X-API-KEY lines', raw: ['X-API-KEY', '', 'X-API-KEY', ''] },
  ];
  for (const c of cases) {
    t.throws(() => extractCredential(c.raw), { code: 'ERR_AUTH_AMBIGUOUS', statusCode: 400 }, c.name);
  }
});

t.test('a credential that claims to be one and is not is malformed (401)', async (t) => {
  const cases: { name: string; raw: string[] }[] = [
    { name: 'an empty X-API-KEY', raw: ['X-API-KEY', ''] },
    { name: 'a whitespace-only X-API-KEY', raw: ['X-API-KEY', ' \t '] },
    { name: 'Bearer with no token', raw: ['Authorization', 'Bearer'] },
    { name: 'Bearer with only spaces', raw: ['Authorization', 'Bearer   '] },
    { name: 'Bearer-x', raw: ['Authorization', 'Bearer-x'] },
    { name: 'Bearer glued to the token', raw: ['Authorization', `Bearer${JWT}`] },
    { name: 'a tab separator', raw: ['Authorization', `Bearer\t${JWT}`] },
    { name: 'a space then a tab', raw: ['Authorization', `Bearer \t${JWT}`] },
    { name: 'two tokens', raw: ['Authorization', `Bearer ${JWT} ${JWT}`] },
    { name: 'a comma-joined second credential', raw: ['Authorization', `Bearer ${JWT}, Bearer x`] },
    { name: 'padding in the middle', raw: ['Authorization', 'Bearer ab=cd'] },
    { name: 'a quoted token', raw: ['Authorization', `Bearer "${JWT}"`] },
    { name: 'a token with a non-ASCII character', raw: ['Authorization', 'Bearer abc\u00e9'] },
    { name: 'only padding', raw: ['Authorization', 'Bearer =='] },
  ];
  for (const c of cases) {
    t.throws(() => extractCredential(c.raw), { code: 'ERR_AUTH_MALFORMED', statusCode: 401 }, c.name);
  }
});

t.test('on a route that exchanges client credentials, Basic is a credential of kind basic', async (t) => {
  const cases: { name: string; raw: string[]; expected: { kind: 'basic' | 'bearer'; token: string } | undefined }[] = [
    { name: 'Basic', raw: ['Authorization', 'Basic dXNlcjpwYXNz'], expected: { kind: 'basic', token: 'dXNlcjpwYXNz' } },
    { name: 'basic in lower case with several spaces', raw: ['authorization', 'basic   dXNlcjpwYXNz '], expected: { kind: 'basic', token: 'dXNlcjpwYXNz' } },
    { name: 'Bearer stays a bearer token', raw: ['Authorization', `Bearer ${JWT}`], expected: { kind: 'bearer', token: JWT } },
    { name: 'Digest is still no credential', raw: ['Authorization', 'Digest username="x"'], expected: undefined },
  ];
  for (const c of cases) t.strictSame(extractCredential(c.raw, true), c.expected, c.name);
  for (const value of ['Basic', 'Basic-x', 'Basic\tdXNlcjpwYXNz', 'Basic dXNl cjpw', 'Basic dXNl"cjpw']) {
    t.throws(() => extractCredential(['Authorization', value], true), { code: 'ERR_AUTH_MALFORMED' }, `${JSON.stringify(value)} is malformed`);
  }
  t.throws(() => extractCredential(['Authorization', 'Basic eDp5', 'x-api-key', JWT], true), { code: 'ERR_AUTH_AMBIGUOUS' }, 'Basic with X-API-KEY is ambiguous');
});
