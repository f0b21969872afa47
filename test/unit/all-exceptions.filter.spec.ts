import { ArgumentsHost, BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import mongoose from 'mongoose';
import { AllExceptionsFilter } from '../../src/common/errors/all-exceptions.filter.js';

function respond(exception: unknown) {
  const captured: { status?: number; body?: unknown; headers?: Record<string, string> } = {};
  const response = {
    headersSent: false,
    setHeader(name: string, value: string) {
      captured.headers = { ...captured.headers, [name]: value };
    },
    status(code: number) {
      captured.status = code;
      return this;
    },
    json(body: unknown) {
      captured.body = body;
    },
  };
  const host = {
    getType: () => 'http',
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => ({ id: 'req-1', method: 'GET', originalUrl: '/x' }) }),
  } as unknown as ArgumentsHost;
  new AllExceptionsFilter().catch(exception, host);
  return captured;
}

describe('AllExceptionsFilter', () => {
  it('gives framework HttpExceptions the standard body with a code', () => {
    expect(respond(new NotFoundException('Cannot GET /nope'))).toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', code: 'NOT_FOUND', message: 'Cannot GET /nope' },
    });
    expect(respond(new BadRequestException(['a is bad', 'b is bad'])).body).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'a is bad; b is bad',
    });
  });

  it('maps a duplicate key error to 409 DUPLICATE_KEY', () => {
    const duplicate = new mongoose.mongo.MongoServerError({ message: 'E11000 duplicate key error', code: 11000 });
    expect(respond(duplicate)).toEqual({
      status: 409,
      body: { statusCode: 409, error: 'Conflict', code: 'DUPLICATE_KEY', message: 'A resource with the same unique key already exists' },
    });
  });

  it('maps Mongoose cast and validation errors to 400 with field details', () => {
    const cast = new mongoose.Error.CastError('ObjectId', 'nope', '_id');
    expect(respond(cast)).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED', details: [{ field: '_id' }] } });
    const validation = new mongoose.Error.ValidationError();
    validation.addError('type', new mongoose.Error.ValidatorError({ message: 'type is invalid', path: 'type' }));
    expect(respond(validation)).toMatchObject({
      status: 400,
      body: { code: 'VALIDATION_FAILED', details: [{ field: 'type', messages: ['type is invalid'] }] },
    });
  });

  it('maps data the store cannot hold to 400 DATA_NOT_STORABLE', () => {
    let bsonError: unknown;
    try {
      mongoose.mongo.BSON.serialize({ 'a\u0000b': 1 });
    } catch (error) {
      bsonError = error;
    }
    expect(respond(bsonError)).toMatchObject({ status: 400, body: { code: 'DATA_NOT_STORABLE', message: expect.stringMatching(/a\?b/) } });
    const tooLarge = new mongoose.mongo.MongoServerError({
      message: 'object to insert too large',
      code: 10334,
      codeName: 'BSONObjectTooLarge',
    });
    expect(respond(tooLarge)).toMatchObject({ status: 400, body: { code: 'DATA_NOT_STORABLE' } });
  });

  it('maps transient store refusals to 503 STORE_UNAVAILABLE with Retry-After', () => {
    const conflict = new mongoose.mongo.MongoServerError({ message: 'WriteConflict', code: 112, codeName: 'WriteConflict' });
    expect(respond(conflict)).toMatchObject({ status: 503, body: { code: 'STORE_UNAVAILABLE' }, headers: { 'Retry-After': '2' } });
  });

  it('maps the errors of a store going away to 503 STORE_UNAVAILABLE: network, closed server or pool, bulk writes cut off', () => {
    const network = new mongoose.mongo.MongoNetworkError('read ECONNRESET');
    // The driver does not export its pool errors; they are known by name, as a closing pool raises them.
    const poolClosed = new mongoose.mongo.MongoDriverError('Attempted to check out a connection from closed pool');
    Object.defineProperty(poolClosed, 'name', { value: 'PoolClosedError' });
    for (const error of [
      network,
      new mongoose.mongo.MongoServerClosedError(),
      new mongoose.mongo.MongoBulkWriteError(network, {} as never),
      poolClosed,
      new mongoose.mongo.MongoServerError({ message: 'interrupted at shutdown', code: 11600 }),
    ]) {
      expect(respond(error)).toMatchObject({ status: 503, body: { code: 'STORE_UNAVAILABLE' }, headers: { 'Retry-After': '2' } });
    }
    const full = new mongoose.mongo.MongoServerError({ message: 'disk full', code: 14031 });
    expect(respond(full)).toMatchObject({ status: 507, body: { code: 'STORAGE_FULL' } });
  });

  it('maps any other driver error to 500 STORE_ERROR, never INTERNAL_ERROR', () => {
    const odd = new mongoose.mongo.MongoServerError({ message: 'something new', code: 987654 });
    expect(respond(odd)).toMatchObject({ status: 500, body: { code: 'STORE_ERROR' } });
    expect(respond(new mongoose.mongo.MongoInvalidArgumentError('bad option'))).toMatchObject({
      status: 500,
      body: { code: 'STORE_ERROR' },
    });
  });

  it('answers anything unexpected with 500 naming the request id, without leaking the error', () => {
    const captured = respond(new Error('connection string mongodb://user:secret@db'));
    expect(captured).toEqual({
      status: 500,
      body: {
        statusCode: 500,
        error: 'Internal Server Error',
        code: 'INTERNAL_ERROR',
        message: 'Internal server error (request id req-1)',
      },
    });
  });

  it('keeps a framework body without a message as details', () => {
    const captured = respond(new HttpException({ status: 'error', details: { mongodb: { status: 'down' } } }, 503));
    expect(captured.body).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', details: { status: 'error' } });
  });
});
