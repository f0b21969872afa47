import type { Response } from 'express';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { contentDisposition } from '../../common/http/content-disposition.js';

/** Where an archive is written: destroyed (with the cause) when the archive fails part-way. */
export type ArchiveOutput = NodeJS.WritableStream & { destroy(error?: Error): void };

export type StreamedDownload =
  | { completed: true; bytes: number; sha256: string }
  /** Cut after the answer had begun: the connection was aborted, so the client sees an incomplete transfer. */
  | { completed: false; bytes: number; error: Error };

/**
 * Sends what `produce` writes as a zip download, starting the answer only with its first byte: a
 * failure before it is thrown (and answered as a JSON error), one after it aborts the connection
 * (a cut chunked transfer, never a complete-looking zip). Counts and hashes what was sent.
 */
export async function sendArchiveWhenItStarts(
  response: Response,
  fileName: string,
  produce: (output: ArchiveOutput) => Promise<unknown>,
): Promise<StreamedDownload> {
  const hash = createHash('sha256');
  let bytes = 0;
  let markStarted: () => void = () => undefined;
  const started = new Promise<'started'>((resolve) => (markStarted = () => resolve('started')));
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (bytes === 0) markStarted();
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const producing = produce(tap);
  // Settled later; a rejection after the start is handled below.
  producing.catch(() => undefined);
  await Promise.race([started, producing]);
  setDownloadHeaders(response, fileName);
  try {
    await Promise.all([producing, pipeline(tap, response)]);
    return { completed: true, bytes, sha256: hash.digest('hex') };
  } catch (error) {
    tap.destroy();
    response.destroy();
    return { completed: false, bytes, error: error instanceof Error ? error : new Error(String(error)) };
  }
}

/** Sends a stored archive of known size; a failure part-way aborts the connection. A HEAD request gets the headers only. */
export async function sendStoredArchive(
  response: Response,
  archive: { stream: Readable; size: number; sha256: string; fileName: string },
  headOnly: boolean,
): Promise<boolean> {
  setDownloadHeaders(response, archive.fileName);
  response.setHeader('Content-Length', String(archive.size));
  response.setHeader('ETag', `"${archive.sha256}"`);
  // RFC 9530: the checksum of the whole archive, for clients that verify it.
  response.setHeader('Repr-Digest', `sha-256=:${Buffer.from(archive.sha256, 'hex').toString('base64')}:`);
  if (headOnly) {
    archive.stream.destroy();
    response.end();
    return true;
  }
  try {
    await pipeline(archive.stream, response);
    return true;
  } catch {
    // The client went away, or storage failed mid-file: the connection is closed either way.
    response.destroy();
    return false;
  }
}

function setDownloadHeaders(response: Response, fileName: string): void {
  response.status(200);
  response.setHeader('Content-Type', 'application/zip');
  response.setHeader('Content-Disposition', contentDisposition('attachment', fileName));
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Cache-Control', 'no-store');
}
