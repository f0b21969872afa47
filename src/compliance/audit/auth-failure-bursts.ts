import { isIPv4, isIPv6 } from 'node:net';

/** Addresses tracked within one minute; failures from addresses beyond it that minute are not counted (memory stays bounded). */
export const MAX_TRACKED_ADDRESSES = 10_000;
/** Distinct failure reasons kept per burst. */
const MAX_REASONS = 5;
const MINUTE_MS = 60_000;

/** An address that reached the threshold of failed authentications within one minute. */
export interface FailureBurst {
  ip: string;
  /** The start of the minute (a fixed window: 12:03:00.000 to 12:03:59.999). */
  windowStart: Date;
  failures: number;
  reasons: string[];
}

interface AddressCount {
  failures: number;
  reasons: Set<string>;
}

/**
 * Counts failed authentications per client address per calendar minute, on this instance. The
 * first time an address reaches the threshold within a minute it answers the burst, once: at
 * most one burst per address per minute (per instance).
 */
export class AuthFailureBursts {
  private minute = -1;
  private readonly counts = new Map<string, AddressCount>();
  private untrackedThisMinute = 0;

  constructor(
    private readonly threshold: number,
    private readonly maxAddresses = MAX_TRACKED_ADDRESSES,
  ) {}

  /** Failures this minute from addresses that could not be tracked (too many addresses at once). */
  get untracked(): number {
    return this.untrackedThisMinute;
  }

  add(ip: string, reason: string, now: Date): FailureBurst | null {
    const minute = Math.floor(now.getTime() / MINUTE_MS);
    if (minute !== this.minute) {
      this.minute = minute;
      this.counts.clear();
      this.untrackedThisMinute = 0;
    }
    let count = this.counts.get(ip);
    if (!count) {
      if (this.counts.size >= this.maxAddresses) {
        this.untrackedThisMinute += 1;
        return null;
      }
      count = { failures: 0, reasons: new Set() };
      this.counts.set(ip, count);
    }
    count.failures += 1;
    if (count.reasons.size < MAX_REASONS) count.reasons.add(reason);
    if (count.failures !== this.threshold) return null;
    return { ip, windowStart: new Date(minute * MINUTE_MS), failures: count.failures, reasons: [...count.reasons] };
  }
}

/**
 * The network an address belongs to: its /24 (IPv4) or /48 (IPv6; an IPv4-mapped IPv6 address
 * counts as IPv4), written in CIDR notation; null for anything that is not an IP address.
 */
export function networkOf(ip: string): string | null {
  if (isIPv4(ip)) return `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  if (!isIPv6(ip)) return null;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.0/24`;
  }
  const prefix = groups.slice(0, 3);
  // Trailing zero groups go into the `::` (2001:db8::/48 rather than 2001:db8:0::/48).
  while (prefix.length > 0 && prefix[prefix.length - 1] === 0) prefix.pop();
  return `${prefix.map((group) => group.toString(16)).join(':')}::/48`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, `::` and a dotted IPv4 tail expanded). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.map((group) => parseInt(group, 16));
}
