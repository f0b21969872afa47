import type { IncomingHttpHeaders } from 'node:http';
import { HttpStatus } from '@nestjs/common';
import busboy from 'busboy';
import { Readable, Transform } from 'node:stream';
import { AppException } from '../errors/app-exceptions.js';
import { ErrorCode } from '../errors/error-codes.js';

export const FILE_FIELD = 'file';

/** Bytes buffered per stage while a file streams through (a few stages per request: bounded memory, few pauses). */
const STREAM_BUFFER_BYTES = 1024 * 1024;

export interface IncomingFilePart {
  /** As the client sent it (decoded from UTF-8); sanitise before use. */
  fileName: string | undefined;
  stream: Readable;
}

export interface MultipartLimits {
  maxFiles: number;
  /** Largest file in bytes; a file over it is cut off while streaming. */
  maxFileBytes: number;
}

/**
 * Streams a multipart/form-data request one file at a time: `onFile` must consume (or fail on)
 * each part before the next is parsed, so no more than one part's buffer is in memory. Resolves
 * with the number of files once the body is read and every `onFile` has finished; on the first
 * error it stops reading the request and rejects with it (the server discards the rest of the body).
 */
export function readMultipartFiles(
  request: Readable & { headers: IncomingHttpHeaders },
  limits: MultipartLimits,
  onFile: (part: IncomingFilePart) => Promise<void>,
): Promise<number> {
  const contentType = request.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(contentType)) {
    return Promise.reject(
      new AppException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Send files as multipart/form-data'),
    );
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      defParamCharset: 'utf8',
      highWaterMark: STREAM_BUFFER_BYTES,
      fileHwm: STREAM_BUFFER_BYTES,
      // One byte over the limit tells an oversize file from one exactly at the limit.
      limits: { files: limits.maxFiles, fileSize: limits.maxFileBytes + 1, fields: 20, parts: limits.maxFiles + 20 },
    });
  } catch (error) {
    return Promise.reject(malformed((error as Error).message));
  }

  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let files = 0;
    let chain = Promise.resolve();

    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      request.unpipe(parser);
      parser.removeAllListeners('file');
      // Later parts are skipped; busboy keeps a no-op error listener so late parser errors are dropped.
      parser.on('error', () => undefined);
      // Whatever is being handled must stop before we answer, or its partial file could outlive the request.
      chain.then(
        () => reject(error),
        () => reject(error),
      );
    };

    parser.on('file', (field, stream, info) => {
      if (field !== FILE_FIELD) {
        stream.resume();
        fail(badRequest(`Unexpected form field "${field}": send files in the field "${FILE_FIELD}"`));
        return;
      }
      files += 1;
      const limited = stream.pipe(cutOffAt(limits.maxFileBytes));
      // pipe() does not forward errors: a body that ends mid-file must fail the file's consumer.
      stream.on('error', (error: Error) => limited.destroy(malformed(error.message)));
      // The consumer may not be reading yet; it sees the error when it does (the stream stays errored).
      limited.on('error', () => undefined);
      chain = chain.then(async () => {
        if (settled) {
          stream.resume();
          return;
        }
        try {
          await onFile({ fileName: info.filename, stream: limited });
        } catch (error) {
          stream.resume();
          fail(error as Error);
        }
      });
    });
    parser.on('field', (name) => fail(badRequest(`Unexpected form field "${name}": only files in the field "${FILE_FIELD}" are accepted`)));
    parser.on('filesLimit', () => fail(badRequest(`At most ${limits.maxFiles} files per request`)));
    parser.on('partsLimit', () => fail(badRequest('Too many parts in the form')));
    parser.on('fieldsLimit', () => fail(badRequest('Too many fields in the form')));
    parser.on('error', (error: Error) => fail(malformed(error.message)));
    parser.on('close', () => {
      void chain.then(() => {
        if (settled) return;
        settled = true;
        resolve(files);
      });
    });
    request.on('aborted', () => fail(badRequest('The upload was aborted by the client')));
    request.on('error', (error) => fail(error));
    request.pipe(parser);
  });
}

/** Passes bytes through until `limit` is exceeded, then fails the stream with FILE_TOO_LARGE. */
function cutOffAt(limit: number): Transform {
  let seen = 0;
  return new Transform({
    highWaterMark: STREAM_BUFFER_BYTES,
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) {
        done(fileTooLarge(limit));
        return;
      }
      done(null, chunk);
    },
  });
}

function fileTooLarge(limitBytes: number): AppException {
  const mb = limitBytes / (1024 * 1024);
  return new AppException(HttpStatus.PAYLOAD_TOO_LARGE, ErrorCode.FILE_TOO_LARGE, `Files may be at most ${formatMb(mb)} MB`, {
    limitBytes,
  });
}

export function formatMb(mb: number): string {
  return Number.isInteger(mb) ? String(mb) : mb.toFixed(1);
}

function badRequest(message: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, message, [{ field: FILE_FIELD, messages: [message] }]);
}

function malformed(reason: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.MALFORMED_MULTIPART, `Malformed multipart body: ${reason}`);
}
