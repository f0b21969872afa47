import type { Response } from 'express';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Streams text pieces with backpressure; a failure after the headers cuts the connection (a truncated file is detectable, a 200 with a wrong end is not). */
export async function send(response: Response, pieces: AsyncIterable<string>): Promise<void> {
  try {
    await pipeline(Readable.from(coalesce(pieces)), response);
  } catch {
    response.destroy();
  }
}

/** Resolves when the response can take more (at once if it can). */
export function drained(response: Response): Promise<void> {
  return response.writableNeedDrain ? once(response, 'drain').then(() => undefined) : Promise.resolve();
}

/** Bytes gathered before a write: one message per write would cost a syscall (or a zlib call) each. */
const WRITE_SIZE = 64 * 1024;

/** Joins small pieces into writes of about WRITE_SIZE characters, so memory stays bounded and writes few. */
export async function* coalesce(pieces: AsyncIterable<string>): AsyncGenerator<string> {
  let buffered: string[] = [];
  let size = 0;
  for await (const piece of pieces) {
    buffered.push(piece);
    size += piece.length;
    if (size >= WRITE_SIZE) {
      yield buffered.join('');
      buffered = [];
      size = 0;
    }
  }
  if (size > 0) yield buffered.join('');
}
