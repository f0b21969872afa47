import { HttpStatus } from '@nestjs/common';
import mongoose from 'mongoose';
import { AppException } from './app-exceptions.js';
import { ErrorCode } from './error-codes.js';

/** Seconds a client should wait before retrying while the store is unreachable or restarting. */
export const STORE_RETRY_AFTER_SECONDS = 2;
/** A full disk needs an operator; retrying sooner only adds load. */
export const STORAGE_FULL_RETRY_AFTER_SECONDS = 60;

/** MongoDB's OutOfDiskSpace; the embedded store answers it too, before a write would fill the disk. */
const OUT_OF_DISK_SPACE = 14031;
/**
 * Server answers that mean "this node cannot serve now, another moment or node can": shutting
 * down, stepping down, not primary, node recovering.
 */
const UNAVAILABLE_SERVER_CODES = new Set([91, 189, 10107, 11600, 11602, 13435, 13436]);

export function storeUnavailable(message = 'The database is unavailable; retry shortly'): AppException {
  return new AppException(HttpStatus.SERVICE_UNAVAILABLE, ErrorCode.STORE_UNAVAILABLE, message).withHeader(
    'Retry-After',
    String(STORE_RETRY_AFTER_SECONDS),
  );
}

export function storageFull(): AppException {
  return new AppException(
    HttpStatus.INSUFFICIENT_STORAGE,
    ErrorCode.STORAGE_FULL,
    'The database has no disk space left for writes; nothing was stored. Reads still work.',
  ).withHeader('Retry-After', String(STORAGE_FULL_RETRY_AFTER_SECONDS));
}

/**
 * Translates an error from the driver or Mongoose that says the store could not serve the
 * request (unreachable, restarting, out of disk) into the stable answer clients retry on; other
 * errors give undefined.
 */
export function fromStoreError(error: unknown): AppException | undefined {
  const mongo = mongoose.mongo;
  // A bulk write that failed on the network carries the network error as its response.
  if (error instanceof mongo.MongoBulkWriteError && error.errorResponse instanceof Error) {
    return fromStoreError(error.errorResponse);
  }
  if (error instanceof mongo.MongoServerError || error instanceof mongo.MongoBulkWriteError) {
    const code = typeof error.code === 'number' ? error.code : undefined;
    if (code === OUT_OF_DISK_SPACE) return storageFull();
    if (code !== undefined && UNAVAILABLE_SERVER_CODES.has(code)) return storeUnavailable();
    return undefined;
  }
  if (
    error instanceof mongo.MongoServerSelectionError ||
    error instanceof mongo.MongoNetworkError ||
    error instanceof mongo.MongoNotConnectedError ||
    error instanceof mongo.MongoTopologyClosedError ||
    error instanceof mongoose.Error.MongooseServerSelectionError
  ) {
    return storeUnavailable();
  }
  return undefined;
}
