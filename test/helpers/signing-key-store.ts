import type { SigningKeyRecord } from '../../src/store/types.js';
import type { SigningKeyStore } from '../../src/tokens/keys.js';

/** Temporary: the four signing-key methods over a Map, until the memory store lands. */
export function createSigningKeyStore(): SigningKeyStore {
  const records = new Map<string, SigningKeyRecord>();
  const copy = (r: SigningKeyRecord): SigningKeyRecord => structuredClone(r);
  return {
    async insertSigningKey(record) {
      if (records.has(record.kid)) throw new Error('duplicate kid');
      records.set(record.kid, copy(record));
    },
    async listSigningKeys() {
      return [...records.values()].map(copy);
    },
    async updateSigningKey(kid, patch) {
      const r = records.get(kid);
      if (r === undefined) return undefined;
      const next = { ...r, ...patch };
      records.set(kid, next);
      return copy(next);
    },
    async deleteSigningKey(kid) {
      return records.delete(kid);
    },
  };
}
