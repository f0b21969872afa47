import { HttpStatus, Injectable } from '@nestjs/common';
import { AppException } from '../errors/app-exceptions.js';
import { ErrorCode } from '../errors/error-codes.js';

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
 * number. Per instance; behind a load balancer each instance enforces its own share.
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
