import { HttpStatus, Injectable } from '@nestjs/common';
import { AppException } from '../errors/app-exceptions.js';
import { ErrorCode } from '../errors/error-codes.js';
import { SharedRedis } from '../redis/shared-redis.js';

/** 429 with the seconds to wait, which the exception filter sends as Retry-After. */
export class RateLimitedException extends AppException {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(HttpStatus.TOO_MANY_REQUESTS, ErrorCode.RATE_LIMITED, message, { retryAfterSeconds });
  }
}

interface Bucket {
  tokens: number;
  refilledAt: number;
}

const MAX_TRACKED_KEYS = 100_000;

/**
 * Token buckets in process memory: `perMinute` actions a minute with bursts up to the same
 * number. Per instance: for what lives on one instance (a connection's events); limits of a user
 * across instances are SharedRateLimiter's.
 */
@Injectable()
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  consume(key: string, perMinute: number, now = Date.now()): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const refillPerMs = perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, refilledAt: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.refilledAt) * refillPerMs);
    bucket.refilledAt = now;
    // Re-insert so the map stays in least-recently-used order and the oldest key can be evicted.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_TRACKED_KEYS) {
      this.buckets.delete(this.buckets.keys().next().value!);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.ceil((1 - bucket.tokens) / refillPerMs / 1000) };
  }
}

/**
 * The token bucket of RateLimiter, kept in Redis: `KEYS[1]` holds tokens and the refill time; the
 * clock is Redis's own, so instances with skewed clocks share one bucket.
 */
const SHARED_BUCKET_SCRIPT = `
local per_minute = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or per_minute
local at = tonumber(bucket[2]) or now
tokens = math.min(per_minute, tokens + math.max(0, now - at) * per_minute / 60000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return { allowed, tostring(tokens) }
`;

const SHARED_KEY_PREFIX = 'wms-chat:rate:';

/**
 * A limit held across instances: with REDIS_URL, one token bucket per key in Redis, so a user
 * spreading requests over instances gets the same budget as on one; without it (or while Redis
 * does not answer) this instance's own bucket.
 */
@Injectable()
export class SharedRateLimiter {
  private readonly local = new RateLimiter();

  constructor(private readonly redis: SharedRedis) {}

  async consume(key: string, perMinute: number): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
    if (!this.redis.configured) return this.local.consume(key, perMinute);
    try {
      const [allowed, tokens] = (await this.redis.eval(SHARED_BUCKET_SCRIPT, [SHARED_KEY_PREFIX + key], [String(perMinute)])) as [
        number,
        string,
      ];
      if (allowed === 1) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - Number(tokens)) * 60) / perMinute)) };
    } catch (error) {
      this.redis.warn(error, 'Rate limits are per instance while Redis does not answer');
      return this.local.consume(key, perMinute);
    }
  }
}
