/** Identity-header building (src/proxy/identity-headers.ts) on arbitrary claim values. */
import fc from 'fast-check';
import t from 'tap';
import type { Identity } from '../../src/auth/identity.js';
import { TOKEN_TYPES } from '../../src/config/schema.js';
import { isGatewayError } from '../../src/errors.js';
import { createIdentityHeaderBuilder } from '../../src/proxy/identity-headers.js';
import { identityHeaders } from '../helpers/compiled-config.js';
import { anyString, assertProperty } from '../helpers/fuzz.js';

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 32 });
const value = fc.oneof(printable, anyString(16));
/** What a header carries unchanged: printable ASCII with no space at either end (parsers trim it). */
const headerSafe = printable.filter((v) => v.trim() === v);

const identity = (values: fc.Arbitrary<string>) =>
  fc.record({
    tokenType: fc.constantFrom(...TOKEN_TYPES),
    issuer: fc.constant('main'),
    subject: values,
    tokenId: values,
    userId: fc.option(values, { nil: undefined }),
    tenantId: values,
    roles: fc.array(values, { maxLength: 4 }),
    permissions: fc.array(values, { maxLength: 4 }),
    expiresAtMs: fc.constant(undefined),
  }) as fc.Arbitrary<Identity>;

for (const arrayFormat of ['csv', 'json'] as const) {
  const build = () => createIdentityHeaderBuilder(identityHeaders({ arrayFormat }));
  const split = (text: string): string[] => (arrayFormat === 'json' ? (JSON.parse(text) as string[]) : text === '' ? [] : text.split(','));

  t.test(`${arrayFormat}: every value is printable ASCII with no space at either end, or the identity is refused with ERR_AUTH_CLAIMS`, async () => {
    assertProperty(
      fc.property(identity(value), (who) => {
        let headers;
        try {
          headers = build()(who);
        } catch (err) {
          return isGatewayError(err) && err.code === 'ERR_AUTH_CLAIMS';
        }
        return Object.values(headers).every((v) => /^[\x20-\x7e]*$/.test(v) && v.trim() === v);
      }),
    );
  });

  t.test(`${arrayFormat}: an identity of header-safe values round-trips through its headers, lists item by item`, async () => {
    const item = arrayFormat === 'csv' ? headerSafe.filter((v) => v !== '' && !v.includes(',')) : headerSafe;
    assertProperty(
      fc.property(identity(headerSafe), fc.array(item, { maxLength: 4 }), fc.array(item, { maxLength: 4 }), (base, roles, permissions) => {
        const who: Identity = { ...base, roles, permissions };
        const names = identityHeaders().names;
        const headers = build()(who);
        const tenantToken = who.tokenType === 'tenantApiToken' || who.tokenType === 'tenantAccessToken';
        return (
          headers[names.tenantId] === who.tenantId &&
          headers[names.subject] === who.subject &&
          headers[names.tokenId] === who.tokenId &&
          headers[names.tokenType] === who.tokenType &&
          headers[names.userId] === (tenantToken ? undefined : who.userId) &&
          JSON.stringify(split(headers[names.roles]!)) === JSON.stringify(roles) &&
          JSON.stringify(split(headers[names.permissions]!)) === JSON.stringify(permissions)
        );
      }),
    );
  });
}
