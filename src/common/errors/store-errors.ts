import { HttpStatus } from '@nestjs/common';
import mongoose from 'mongoose';
import { AppException, ValidationFailedException } from './app-exceptions.js';
import { ErrorCode } from './error-codes.js';

/** Seconds a client should wait before retrying while the store is unreachable or restarting. */
export const STORE_RETRY_AFTER_SECONDS = 2;
/** A full disk needs an operator; retrying sooner only adds load. */
export const STORAGE_FULL_RETRY_AFTER_SECONDS = 60;

const DUPLICATE_KEY = 11000;
/** MongoDB's OutOfDiskSpace; the embedded store answers it too, before a write would fill the disk. */
const OUT_OF_DISK_SPACE = 14031;
/**
 * Server answers that mean "this node cannot serve now, another moment or node can": shutting
 * down, stepping down, not primary, node recovering.
 */
const UNAVAILABLE_SERVER_CODES = new Set([91, 189, 10107, 11600, 11602, 13435, 13436]);
/**
 * Server answers that say "try again" without the store being down: a write conflict, a lock or
 * time limit, a write concern not satisfied in time, a host or network timeout between nodes.
 */
const TRANSIENT_SERVER_CODES = new Set([6, 7, 24, 46, 50, 64, 89, 112, 133, 202, 262, 9001, 11601]);
/**
 * Server answers that say the data, as given, cannot be stored: a document or key too large,
 * field names the server refuses, a collection validator's refusal. The client's data, not a bug.
 */
const UNSTORABLE_SERVER_CODES = new Set([52, 55, 56, 57, 121, 10334, 17280, 17419]);

/**
 * Driver errors (not exported by the driver, known by name) raised while a server is going away:
 * its connection pool closed, or no connection came free in time.
 */
const UNAVAILABLE_DRIVER_ERRORS = new Set(['PoolClosedError', 'WaitQueueTimeoutError']);

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
    error instanceof mongo.MongoServerClosedError ||
    error instanceof mongoose.Error.MongooseServerSelectionError ||
    (error instanceof mongo.MongoError && UNAVAILABLE_DRIVER_ERRORS.has(error.name))
  ) {
    return storeUnavailable();
  }
  return undefined;
}

/**
 * Every error from the driver, BSON or Mongoose as the stable answer a client gets, so none of
 * them is reported as a bug (INTERNAL_ERROR stays for those); undefined for anything else.
 * Shared by the HTTP exception filter and the realtime gateway's acks.
 */
export function fromDriverError(error: unknown): AppException | undefined {
  const outage = fromStoreError(error);
  if (outage) return outage;
  const mongo = mongoose.mongo;
  if (error instanceof mongoose.Error.CastError) {
    return new ValidationFailedException(
      [{ field: error.path, messages: [`${error.path} must be a valid ${error.kind}`] }],
      `Invalid value for ${error.path}`,
    );
  }
  if (error instanceof mongoose.Error.ValidationError) {
    return new ValidationFailedException(Object.values(error.errors).map((cause) => ({ field: cause.path, messages: [cause.message] })));
  }
  if (error instanceof mongoose.Error.StrictModeError) {
    return new ValidationFailedException([{ field: error.path, messages: [`${error.path} is not a field that can be set`] }]);
  }
  if (error instanceof mongo.BSON.BSONError) return notStorable(error.message.replace(/\p{Cc}/gu, '?'));
  if (error instanceof mongo.MongoServerError || error instanceof mongo.MongoBulkWriteError) {
    const code = typeof error.code === 'number' ? error.code : undefined;
    if (code === DUPLICATE_KEY) {
      return new AppException(HttpStatus.CONFLICT, ErrorCode.DUPLICATE_KEY, 'A resource with the same unique key already exists');
    }
    if (code !== undefined && UNSTORABLE_SERVER_CODES.has(code)) return notStorable(error.codeName ?? `code ${code}`);
    if ((code !== undefined && TRANSIENT_SERVER_CODES.has(code)) || isTransient(error)) {
      return storeUnavailable('The database could not complete the operation in time; retry shortly');
    }
  }
  if (
    error instanceof mongo.MongoWriteConcernError ||
    error instanceof mongo.MongoOperationTimeoutError ||
    (error instanceof mongo.MongoError && isTransient(error))
  ) {
    return storeUnavailable('The database could not complete the operation in time; retry shortly');
  }
  if (error instanceof mongo.MongoError || error instanceof mongo.BSON.BSONError || error instanceof mongoose.Error) {
    return new AppException(
      HttpStatus.INTERNAL_SERVER_ERROR,
      ErrorCode.STORE_ERROR,
      'The database refused the operation; nothing is known to have been stored',
    );
  }
  return undefined;
}

function notStorable(reason: string): AppException {
  return new AppException(
    HttpStatus.BAD_REQUEST,
    ErrorCode.DATA_NOT_STORABLE,
    `The data cannot be stored as given (${reason}); nothing was stored`,
  );
}

function isTransient(error: InstanceType<typeof mongoose.mongo.MongoError>): boolean {
  return error.hasErrorLabel('TransientTransactionError') || error.hasErrorLabel('RetryableWriteError');
}
