import { Readable } from 'node:stream';
import { LegacyDumpError, LegacyDumpReader, type LegacyRecord } from '../../src/legacy-import/reader/legacy-dump-reader.js';
import { parseLegacyTime, toLegacyMessages } from '../../src/legacy-import/reader/legacy-message.js';

const LIMITS = { maxStringLength: 40, maxFieldsSize: 200 };

async function read(chunks: string[]): Promise<{ records: LegacyRecord[]; error: LegacyDumpError | null }> {
  const records: LegacyRecord[] = [];
  try {
    for await (const record of LegacyDumpReader.read(Readable.from(chunks), LIMITS)) records.push(record);
  } catch (error) {
    if (!(error instanceof LegacyDumpError)) throw error;
    return { records, error };
  }
  return { records, error: null };
}

const DUMP = JSON.stringify({
  'a.b@c': [{ role: 'user', content: 'caf\u00e9 \ud83d\ude00 "quoted" \\ back\nslash', t: 1.5e3 }],
  bob: [{ conversation_id: 7, title: 'T', messages: [{ type: 'bot', text: 'x', meta: { deep: [1, { two: null }] } }] }],
  carol: { s: { messages: [{ role: 'system', content: 'y' }], title: 'after' } },
});

describe('legacy dump reader', () => {
  it('reads the same records whatever the chunk boundaries (every split point, escapes and surrogate pairs included)', async () => {
    const whole = await read([DUMP]);
    expect(whole.error).toBeNull();
    expect(whole.records.filter((record) => record.kind === 'message')).toHaveLength(3);
    for (let split = 1; split < DUMP.length; split += 1) {
      expect(await read([DUMP.slice(0, split), DUMP.slice(split)])).toEqual(whole);
    }
    const first = whole.records.find((record) => record.kind === 'message')!;
    expect(first).toMatchObject({ path: '$["a.b@c"][0]', fields: { content: 'caf\u00e9 \ud83d\ude00 "quoted" \\ back\nslash', t: 1500 } });
    expect(whole.records.find((record) => record.kind === 'conversation-end' && record.conversation.key === 's')).toMatchObject({
      fields: { title: 'after' },
    });
    expect(whole.records.find((record) => record.kind === 'message' && record.conversation.key === '7')).toMatchObject({
      path: '$.bob[0].messages[0]',
      fields: { meta: { deep: [1, { two: null }] } },
    });
  });

  it('keeps no string over the limit, only its length, and refuses a record too large in all', async () => {
    const { records } = await read([
      JSON.stringify({
        u: [
          { role: 'user', content: 'x'.repeat(1000) },
          { role: 'user', ...Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`f${index}`, 'y'.repeat(35)])) },
        ],
      }),
    ]);
    const [long] = records.filter((record) => record.kind === 'message');
    expect((long as Extract<LegacyRecord, { kind: 'message' }>).fields.content).toEqual({ length: 1000 });
    expect(records.find((record) => record.kind === 'rejected')).toMatchObject({
      path: '$.u[1]',
      reason: expect.stringMatching(/^too large/),
    });
  });

  it('stops at bad JSON with its line, column and path, after handing out what came before', async () => {
    const { records, error } = await read(['{"u": [{"role": "user", "content": "ok"}],\n "v": [{"role": "user" "content": "x"}]}']);
    expect(records.filter((record) => record.kind === 'message')).toHaveLength(1);
    expect(error?.message).toMatch(/^invalid JSON at line 2, column 24: expected ',' or '}', found '"' \(reading \$\.v\[0\]\)$/);
    for (const bad of ['', '{', '{"u": [}', '{"u": tru}', '{"u": 01}', '{"u": "\\x"}', '{"u": []} []', '[]', '"text"']) {
      expect((await read([bad])).error).toBeInstanceOf(LegacyDumpError);
    }
  });

  it('refuses nesting deeper than 64 levels before it costs memory', async () => {
    const deep = `{"u": [{"role": "user", "content": "x", "m": ${'['.repeat(100_000)}`;
    const { error } = await read([deep]);
    expect(error?.message).toMatch(/nested deeper than 64 levels/);
  });

  it("reads Python's NaN and Infinity as numbers, refused where a number must be finite", async () => {
    const { records, error } = await read([
      '{"u": [{"role": "assistant", "content": "x", "processing_time": NaN, "timestamp": -Infinity}]}',
    ]);
    expect(error).toBeNull();
    const message = records.find((record) => record.kind === 'message') as Extract<LegacyRecord, { kind: 'message' }>;
    expect(toLegacyMessages(message.fields, 100, new Date())).toEqual({ reason: expect.stringMatching(/unreadable timestamp/) });
  });
});

describe('legacy message forms', () => {
  const now = new Date('2026-01-01T00:00:00Z');

  it('reads every timestamp form, and refuses impossible dates', () => {
    expect(parseLegacyTime('2025-01-31 14:05:09.123456')).toEqual(new Date('2025-01-31T14:05:09.123Z'));
    expect(parseLegacyTime('2025-01-31T14:05:09+02:00')).toEqual(new Date('2025-01-31T12:05:09Z'));
    expect(parseLegacyTime('2025-01-31')).toEqual(new Date('2025-01-31T00:00:00Z'));
    expect(parseLegacyTime(1738332309)).toEqual(new Date('2025-01-31T14:05:09Z'));
    expect(parseLegacyTime(1738332309123)).toEqual(new Date('2025-01-31T14:05:09.123Z'));
    expect(parseLegacyTime('1738332309')).toEqual(new Date('2025-01-31T14:05:09Z'));
    expect(parseLegacyTime(null)).toBeNull();
    for (const bad of ['2025-13-01', '2025-02-30 10:00:00', 'yesterday', '25:00', -5, {}, true])
      expect(parseLegacyTime(bad)).toBeUndefined();
  });

  it('maps roles, texts, pairs, tokens and processing time; keeps the rest as metadata', () => {
    expect(
      toLegacyMessages(
        { query: 'q?', response: 'a.', tokens_used: { prompt_tokens: 3, completion_tokens: 4 }, processing_time: 0.25, id: 9 },
        100,
        now,
      ),
    ).toEqual({
      messages: [
        { part: 0, type: 'user', content: 'q?', timestamp: null, metadata: { legacy: { id: 9 } } },
        {
          part: 1,
          type: 'assistant',
          content: 'a.',
          timestamp: null,
          tokensUsed: { prompt: 3, completion: 4, total: 7 },
          processingTime: 250,
          metadata: { legacy: { id: 9 } },
        },
      ],
    });
    expect(toLegacyMessages({ sender: 'Human', body: 'hi' }, 100, now)).toMatchObject({ messages: [{ type: 'user', content: 'hi' }] });
    expect(toLegacyMessages({ role: 'user', content: 'x'.repeat(101) }, 100, now)).toEqual({
      reason: expect.stringMatching(/over 100 characters/),
    });
    expect(toLegacyMessages({ role: 'user', content: '\u200b ' }, 100, now)).toEqual({ reason: '"content" is empty' });
    expect(toLegacyMessages({ content: 'no role' }, 100, now)).toEqual({ reason: expect.stringMatching(/^no role/) });
    expect(toLegacyMessages({ role: 'user', content: 'x', timestamp: '2027-01-01' }, 100, now)).toEqual({
      reason: expect.stringMatching(/in the future/),
    });
    expect(toLegacyMessages({ role: 'user', content: 'x', $where: 1 }, 100, now)).toEqual({
      reason: expect.stringMatching(/may not start with \$/),
    });
    // What the API refuses in any JSON body.
    expect(toLegacyMessages({ role: 'user', content: 'a\u0000b' }, 100, now)).toEqual({
      reason: expect.stringMatching(/^content must not contain the NUL/),
    });
    expect(toLegacyMessages({ role: 'user', content: 'a\ud800' }, 100, now)).toEqual({ reason: expect.stringMatching(/lone surrogate/) });
    expect(toLegacyMessages({ role: 'user', content: 'x', 'a\u0000': 1 }, 100, now)).toEqual({
      reason: expect.stringMatching(/is not allowed/),
    });
  });
});
