import type { Readable } from 'node:stream';

/**
 * Reads the first `size` bytes of a stream (fewer if it ends sooner) and returns them with the
 * whole content, head included, as an iterable that continues where the source left off.
 * `release()` stops reading when the content is not wanted after all.
 */
export async function readHead(
  source: Readable,
  size: number,
): Promise<{ head: Buffer; whole: AsyncIterable<Buffer>; release: () => void }> {
  const chunks: Buffer[] = [];
  let length = 0;
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let done = false;
  while (length < size) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }
  const head = Buffer.concat(chunks, length);
  async function* whole(): AsyncGenerator<Buffer> {
    yield head;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { head: head.subarray(0, size), whole: whole(), release: () => source.destroy() };
}
