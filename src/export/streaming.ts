import type { Response } from 'express';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Streams text pieces with backpressure; a failure after the headers cuts the connection (a truncated file is detectable, a 200 with a wrong end is not). */
export async function send(response: Response, pieces: AsyncIterable<string>): Promise<void> {
  try {
    await pipeline(Readable.from(pieces), response);
  } catch {
    response.destroy();
  }
}

/** Resolves when the response can take more (at once if it can). */
export function drained(response: Response): Promise<void> {
  return response.writableNeedDrain ? once(response, 'drain').then(() => undefined) : Promise.resolve();
}
