/** Credential extraction (src/proxy/extract.ts) on arbitrary header lines. */
import fc from 'fast-check';
import t from 'tap';
import { isGatewayError } from '../../src/errors.js';
import { extractCredential } from '../../src/proxy/extract.js';
import { anyString, assertProperty, stringOf } from '../helpers/fuzz.js';

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

const headerName = fc.oneof(
  fc.constantFrom('Authorization', 'authorization', 'AUTHORIZATION', 'X-API-KEY', 'x-api-key', 'X-Api-Key', 'X_API_KEY', 'Authorization ', 'Host', 'Proxy-Authorization'),
  anyString(16),
);
const headerValue = fc.oneof(stringOf(['Bearer', 'bearer', 'Basic', ' ', '\t', 'a.b.c', '=', '/', '+', '\r\n', '\0', 'é']), anyString());
const headerLines = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }).map((lines) => lines.flat());

const isCredentialName = (name: string) => name.toLowerCase() === 'authorization' || name.toLowerCase() === 'x-api-key';

t.test('extraction never throws anything but a refusal, and returns only a well-formed credential', async () => {
  assertProperty(
    fc.property(headerLines, fc.boolean(), (raw, allowBasic) => {
      const count = raw.filter((v, i) => i % 2 === 0 && isCredentialName(v)).length;
      let credential;
      try {
        credential = extractCredential(raw, allowBasic);
      } catch (err) {
        if (!isGatewayError(err)) throw err;
        if (count > 1) return err.code === 'ERR_AUTH_AMBIGUOUS';
        return err.code === 'ERR_AUTH_MALFORMED';
      }
      if (count === 0) return credential === undefined;
      if (count > 1) return false;
      // No credential from one line: only an Authorization scheme that is not ours.
      if (credential === undefined) return !raw.some((v, i) => i % 2 === 0 && v.toLowerCase() === 'x-api-key');
      if (credential.kind === 'basic' && !allowBasic) return false;
      if (credential.token === '' || /^[ \t]|[ \t]$/.test(credential.token)) return false;
      return credential.kind === 'apiKey' || TOKEN68.test(credential.token);
    }),
  );
});

t.test('any token68 after Bearer and one or more spaces is the credential, in any case of the scheme', async () => {
  const token68 = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,40}=*$/);
  const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR');
  assertProperty(
    fc.property(scheme, fc.integer({ min: 1, max: 4 }), token68, fc.constantFrom('', ' ', '\t', ' \t'), (s, spaces, token, ows) => {
      const credential = extractCredential(['Host', 'h', 'Authorization', `${ows}${s}${' '.repeat(spaces)}${token}${ows}`]);
      return credential?.kind === 'bearer' && credential.token === token;
    }),
  );
});

t.test('an X-API-KEY value is the credential without its surrounding whitespace', async () => {
  const value = anyString().filter((v) => v.trim() !== '' && !/^[ \t]|[ \t]$/.test(v));
  assertProperty(
    fc.property(value, fc.constantFrom('', ' ', '\t '), (token, ows) => {
      const credential = extractCredential(['x-api-key', `${ows}${token}${ows}`]);
      return credential?.kind === 'apiKey' && credential.token === token;
    }),
  );
});
