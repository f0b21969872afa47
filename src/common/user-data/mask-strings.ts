/**
 * A copy of a free-form value (metadata a client sent) with every string in it, however deeply
 * nested in objects and arrays, passed through `mask`; numbers, booleans, dates and nulls stay.
 * Keys are kept: they are the client's field names, not its data.
 */
export function maskStrings<T>(value: T, mask: (text: string) => string): T {
  if (typeof value === 'string') return mask(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => maskStrings(item, mask)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskStrings(item, mask)])) as T;
  }
  return value;
}
