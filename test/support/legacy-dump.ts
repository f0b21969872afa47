import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/**
 * Writes a legacy dump (`chat_backup.json`) the way the legacy Python service would have, in
 * every shape the import reads: users in turn get the messages shape (`{user: [message...]}`), the
 * conversation-list shape and the conversation-map shape; messages in turn use role/content,
 * assistant replies with tokens and processing time, type/message, bot/text, question-answer
 * pairs and system notes, dated by ISO strings, Python's str(datetime), epoch seconds and
 * milliseconds, or not at all. Streams to the file: a dump of any size costs no memory.
 */
export interface LegacyDumpOptions {
  /** About this many messages (ours: a question-answer pair is two). */
  messages: number;
  users: number;
  /** Messages per legacy conversation. */
  perConversation?: number;
  /** Adds the malformed records of MALFORMED_CASES (after the valid users). */
  malformed?: { maxMessageLength: number };
  /** Writes a record of bad JSON after this many users (the rest of the file is still written). */
  badJsonAfterUsers?: number;
  /** User ids are `${prefix}${index}`. */
  userPrefix?: string;
  /** The first message's time; each next one is a minute later. */
  start?: Date;
}

export interface LegacyDumpStats {
  /** Messages the dump holds that the import accepts. */
  messages: number;
  /** Message records (pairs count once). */
  records: number;
  users: number;
  conversations: number;
  /** Records the import must reject (malformed). */
  rejected: number;
}

/** The malformed records `malformed` adds: what each is, and the reason the import must give. */
export const MALFORMED_CASES = [
  { what: 'an unknown role', reason: /unknown role "robot"/ },
  { what: 'empty content', reason: /"content" is empty/ },
  { what: 'huge content', reason: /is over \d+ characters/ },
  { what: 'an unreadable timestamp', reason: /unreadable timestamp/ },
  { what: 'a message that is not an object', reason: /expected a message or conversation object; found a number/ },
  { what: 'a user id Python wrote for None', reason: /no user id \(the key is "None"/ },
  { what: 'an empty user id', reason: /no user id \(the key is empty\)/ },
  { what: 'a user whose value is not a list or object', reason: /expected a list of messages or conversations/ },
] as const;

const TOPICS = ['pallet', 'pick list', 'cycle count', 'inbound dock', 'replenishment', 'shipping label', 'bin location', 'forklift'];

export async function writeLegacyDump(path: string, options: LegacyDumpOptions): Promise<LegacyDumpStats> {
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const perUser = Math.max(1, Math.round(options.messages / options.users));
  const perConversation = options.perConversation ?? 20;
  const start = options.start ?? new Date(Date.UTC(2025, 0, 6, 8, 0, 0));
  const stats: LegacyDumpStats = { messages: 0, records: 0, users: 0, conversations: 0, rejected: 0 };
  let clock = start.getTime();
  let serial = 0;

  /** The next message record of the rotation and how many messages it holds. */
  const nextRecord = (): { json: string; messages: number } => {
    serial += 1;
    clock += 60_000;
    const topic = TOPICS[serial % TOPICS.length]!;
    const question = `Where is the ${topic} for order ORD-${serial}?`;
    const answer = `The ${topic} for order ORD-${serial} is in aisle ${serial % 40}, level ${serial % 5}.`;
    const time = new Date(clock);
    switch (serial % 6) {
      case 0:
        return { json: JSON.stringify({ role: 'user', content: question, timestamp: time.toISOString() }), messages: 1 };
      case 1:
        return {
          json: JSON.stringify({
            role: 'assistant',
            content: answer,
            timestamp: pythonTime(time),
            tokens_used: 40 + (serial % 7),
            processing_time: 1.25,
          }),
          messages: 1,
        };
      case 2:
        return { json: JSON.stringify({ type: 'user', message: question, timestamp: Math.floor(clock / 1000) }), messages: 1 };
      case 3:
        return { json: JSON.stringify({ type: 'bot', text: answer, timestamp: clock, intent: 'locate' }), messages: 1 };
      case 4:
        return {
          json: JSON.stringify({ query: question, response: answer, timestamp: time.toISOString().replace('Z', '+00:00') }),
          messages: 2,
        };
      default:
        return { json: JSON.stringify({ role: 'system', content: `Shift change at dock ${serial % 9}.` }), messages: 1 };
    }
  };

  /** A list of message records adding up to about `count` messages. */
  const messageList = async (count: number, indent: string) => {
    await write('[');
    let written = 0;
    let first = true;
    while (written < count) {
      const record = nextRecord();
      await write(`${first ? '' : ','}\n${indent}  ${record.json}`);
      first = false;
      written += record.messages;
      stats.records += 1;
      stats.messages += record.messages;
    }
    await write(`\n${indent}]`);
  };

  await write('{');
  let firstUser = true;
  const userKey = async (key: string) => {
    await write(`${firstUser ? '' : ','}\n  ${JSON.stringify(key)}: `);
    firstUser = false;
  };
  for (let user = 0; user < options.users; user += 1) {
    if (options.badJsonAfterUsers === user) {
      await userKey('broken-user');
      await write('[{"role": "user", "content": "half" "written"}]');
    }
    await userKey(`${options.userPrefix ?? 'legacy-user-'}${user}`);
    stats.users += 1;
    const conversations = Math.max(1, Math.round(perUser / perConversation));
    const size = Math.max(1, Math.round(perUser / conversations));
    switch (user % 3) {
      case 0:
        // One running conversation.
        stats.conversations += 1;
        await messageList(perUser, '  ');
        break;
      case 1:
        await write('[');
        for (let index = 0; index < conversations; index += 1) {
          stats.conversations += 1;
          // Every third conversation has no id: it is known by its place in the list.
          const id = index % 3 === 2 ? '' : `"conversation_id": "conv-${user}-${index}", `;
          await write(`${index === 0 ? '' : ','}\n    {${id}"title": "Shift ${index + 1} questions", "messages": `);
          await messageList(size, '    ');
          await write('}');
        }
        await write('\n  ]');
        break;
      default:
        await write('{');
        for (let index = 0; index < conversations; index += 1) {
          stats.conversations += 1;
          await write(`${index === 0 ? '' : ','}\n    "session-${user}-${index}": `);
          if (index % 2 === 0) await messageList(size, '    ');
          else {
            await write(`{"title": "Session ${index + 1}", "user_role": "warehouse_operator", "messages": `);
            await messageList(size, '    ');
            await write('}');
          }
        }
        await write('\n  }');
    }
  }
  if (options.malformed) {
    const huge = 'x'.repeat(options.malformed.maxMessageLength + 1);
    await userKey('legacy-malformed');
    stats.users += 1;
    stats.conversations += 1;
    const records = [
      { role: 'robot', content: 'beep' },
      { role: 'user', content: '   ' },
      { role: 'user', content: huge },
      { role: 'user', content: 'When did this arrive?', timestamp: 'yesterday' },
      42,
      { role: 'user', content: 'A valid question among the bad ones' },
    ];
    await write(`[\n    ${records.map((record) => JSON.stringify(record)).join(',\n    ')}\n  ]`);
    stats.records += records.length;
    stats.messages += 1;
    await userKey('None');
    await write('[{"role": "user", "content": "whose is this?"}]');
    await userKey('');
    await write('[{"role": "user", "content": "nobody asked"}]');
    await userKey('legacy-number');
    await write('12');
    stats.rejected += MALFORMED_CASES.length;
  }
  await write('\n}\n');
  out.end();
  await once(out, 'finish');
  return stats;
}

/** Python's str(datetime): `2025-01-31 14:05:09.123456`. */
function pythonTime(time: Date): string {
  return `${time.toISOString().slice(0, 19).replace('T', ' ')}.${String(time.getUTCMilliseconds() * 1000).padStart(6, '0')}`;
}
