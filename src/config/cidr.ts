import { BlockList, isIP } from 'node:net';

/** One `trustedProxies` entry: a single address or a CIDR block. */
export interface AddressRule {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

const PREFIX = /^\d{1,3}$/;

/**
 * Parses `10.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`; undefined for anything else. Zone ids
 * (`fe80::1%eth0`) and bracketed literals are refused: they name an interface or a URL syntax,
 * not a peer address.
 */
export function parseAddressRule(text: string): AddressRule | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = address.includes('%') ? 0 : isIP(address);
  if (version === 0) return undefined;
  const bits = version === 4 ? 32 : 128;
  if (slash === -1) return { address, prefix: bits, family: version === 4 ? 'ipv4' : 'ipv6' };
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Builds the `isTrustedProxy` predicate over socket peer addresses. `net.BlockList` compares an
 * IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`, what a dual-stack listener reports) with IPv4 rules
 * and the reverse, so one rule covers both spellings. Anything that is not an IP address is
 * untrusted. Throws `TypeError` on an entry `parseAddressRule` refuses (validation reports those first).
 */
export function createAddressMatcher(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const rule = parseAddressRule(entry);
    if (rule === undefined) throw new TypeError(`Not an IP address or CIDR block: ${JSON.stringify(entry)}`);
    if (rule.prefix === (rule.family === 'ipv4' ? 32 : 128)) list.addAddress(rule.address, rule.family);
    else list.addSubnet(rule.address, rule.prefix, rule.family);
  }
  return (address) => {
    const version = isIP(address);
    return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };
}
