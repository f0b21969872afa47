import { randomBytes } from 'node:crypto';
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { SharedRedis } from '../common/redis/shared-redis.js';
import { RealtimeHub } from './realtime.hub.js';

/** A slot not refreshed for this long is free again: what an instance that died held comes back. */
const SLOT_TTL_MS = 90_000;
const REFRESH_INTERVAL_MS = SLOT_TTL_MS / 3;
const KEY_PREFIX = 'wms-chat:connections:';

/** Takes a slot in the user's set if fewer than ARGV[2] live ones are held. Redis's clock, so instances agree. */
const RESERVE_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** Pushes back the expiry of the slots still held (ARGV[2..]) in the user's set. */
const REFRESH_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

const RELEASE_SCRIPT = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

/**
 * WEBSOCKET_MAX_CONNECTIONS_PER_USER across instances: with REDIS_URL each connection holds a slot
 * in a per-user set in Redis, taken when it is admitted, given back when it closes, and refreshed
 * while it lives (so the slots of an instance that died free themselves within SLOT_TTL_MS).
 * Without Redis, or while it does not answer, the cap counts this instance's connections.
 */
@Injectable()
export class ConnectionSlots implements OnModuleInit, OnModuleDestroy {
  /** Slots of open connections on this instance, by user: refreshed until released. */
  private readonly held = new Map<string, Set<string>>();
  private refresher?: NodeJS.Timeout;

  constructor(
    private readonly redis: SharedRedis,
    private readonly hub: RealtimeHub,
  ) {}

  onModuleInit(): void {
    if (!this.redis.configured) return;
    this.refresher = setInterval(() => void this.refresh(), REFRESH_INTERVAL_MS);
    this.refresher.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.refresher);
  }

  /** A slot for a new connection of the user, or null when the user has `max` open already. */
  async reserve(userId: string, max: number): Promise<string | null> {
    const slot = randomBytes(9).toString('base64url');
    if (this.redis.configured) {
      try {
        const taken = await this.redis.eval(RESERVE_SCRIPT, [KEY_PREFIX + userId], [slot, String(max), String(SLOT_TTL_MS)]);
        return taken === 1 ? slot : null;
      } catch (error) {
        this.redis.warn(error, 'The connection cap is per instance while Redis does not answer');
      }
    }
    return this.hub.connectionCount(userId) < max ? slot : null;
  }

  /** The connection holding `slot` opened: its slot is kept alive until released. */
  hold(userId: string, slot: string): void {
    if (!this.redis.configured) return;
    const slots = this.held.get(userId) ?? new Set<string>();
    slots.add(slot);
    this.held.set(userId, slots);
  }

  release(userId: string, slot: string): void {
    const slots = this.held.get(userId);
    slots?.delete(slot);
    if (slots?.size === 0) this.held.delete(userId);
    if (!this.redis.configured) return;
    this.redis.eval(RELEASE_SCRIPT, [KEY_PREFIX + userId], [slot]).catch((error: unknown) => {
      // Not given back now: it frees itself when its expiry passes.
      this.redis.warn(error, 'Could not give back a connection slot in Redis');
    });
  }

  private async refresh(): Promise<void> {
    for (const [userId, slots] of this.held) {
      try {
        await this.redis.eval(REFRESH_SCRIPT, [KEY_PREFIX + userId], [String(SLOT_TTL_MS), ...slots]);
      } catch (error) {
        // The next users' slots are tried all the same: one failure must not let them all expire.
        this.redis.warn(error, 'Could not refresh connection slots in Redis');
      }
    }
  }
}
