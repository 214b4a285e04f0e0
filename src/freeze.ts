/**
 * Freezes a value and everything reachable from it. Sets are made read-only by shadowing their
 * mutators, because `Object.freeze` alone leaves `add`/`delete`/`clear` working.
 */
export function deepFreeze<T>(value: T): T {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null || Object.isFrozen(value)) return value;
  if (value instanceof Set) sealSet(value);
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (descriptor !== undefined && 'value' in descriptor) deepFreeze(descriptor.value);
  }
  if (value instanceof Set) for (const item of value) deepFreeze(item);
  return value;
}

function refuse(): never {
  throw new TypeError('This set is read-only');
}

function sealSet(set: Set<unknown>): void {
  Object.defineProperties(set, { add: { value: refuse }, delete: { value: refuse }, clear: { value: refuse } });
}
