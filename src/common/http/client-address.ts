import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * Which proxies' X-Forwarded-For is believed: those on loopback (a sidecar or a proxy on the same
 * host). Express is set with it (`trust proxy`), and clientAddress uses it for requests Express does
 * not see (the Socket.IO handshake), so both name the same client.
 */
export const TRUSTED_PROXIES = 'loopback';

const trusted = proxyaddr.compile(TRUSTED_PROXIES);

/** The client's address under TRUSTED_PROXIES, as Express's `request.ip` gives it. */
export function clientAddress(request: IncomingMessage): string {
  return proxyaddr(request, trusted);
}
