import { ZipArchive } from 'archiver';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { appendZipEntry } from '../../common/archive/zip-entry.js';
import { coalesce } from '../streaming.js';
import { ExportSource, ExportedMessage, exportFileName } from './export-model.js';
import { jsonConversation } from './text-formats.js';

/**
 * A zip of a history: `conversations/<name>.json` per conversation (the JSON export's form), one
 * entry at a time, then `index.json` listing each with its file and the number of messages in it.
 * A failure part-way (the store, or the client going away) cuts the output: a truncated zip is
 * detectable.
 */
export async function writeZipHistory(
  output: NodeJS.WritableStream & { destroy(error?: Error): void },
  sources: AsyncIterable<ExportSource>,
): Promise<void> {
  const archive = new ZipArchive({ zlib: { level: 6 } });
  const gone = new AbortController();
  const done = pipeline(archive, output).catch((error: unknown) => {
    gone.abort(error);
    output.destroy();
  });
  const index: Record<string, unknown>[] = [];
  try {
    for await (const source of sources) {
      const { conversation } = source;
      const name = `conversations/${exportFileName(conversation, 'json')}`;
      let exported = 0;
      const counted: ExportSource = { conversation, messages: counting(source.messages, () => (exported += 1)) };
      // The next conversation is read only when this one is written.
      await appendZipEntry(archive, name, Readable.from(coalesce(jsonConversation(counted))), {
        date: new Date(conversation.updatedAt),
        signal: gone.signal,
      });
      index.push({
        id: conversation.id,
        title: conversation.title,
        file: name,
        messages: exported,
        role: conversation.role,
        agentKey: conversation.agentKey,
        status: conversation.status,
        createdAt: conversation.createdAt,
        lastMessageAt: conversation.lastMessageAt,
      });
    }
    archive.append(JSON.stringify({ conversations: index }, null, 2), { name: 'index.json' });
    await archive.finalize();
  } catch (error) {
    archive.abort();
    output.destroy(error as Error);
  }
  await done;
}

async function* counting(messages: AsyncIterable<ExportedMessage>, onEach: () => void): AsyncGenerator<ExportedMessage> {
  for await (const message of messages) {
    onEach();
    yield message;
  }
}
