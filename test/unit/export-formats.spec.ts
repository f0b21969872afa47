import { Readable, Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import type { ConversationDto } from '../../src/conversations/dto/conversation.dto.js';
import { csvRow } from '../../src/export/formats/csv.js';
import { exportFileName } from '../../src/export/formats/export-model.js';
import { fontRuns } from '../../src/export/formats/pdf-transcript.js';
import { writeZipHistory } from '../../src/export/formats/zip-history.js';
import type { ExportedMessage } from '../../src/export/formats/export-model.js';

describe('csvRow', () => {
  it('quotes what needs quoting and neutralises formulas (RFC 4180, OWASP)', () => {
    const row = csvRow(['=1+1', '+SUM(A1)', '-2', '@cmd', '\tx', 'a,b', 'say "hi"', 'line\nbreak', ' padded ', 42, null, 'plain']);
    expect(row.endsWith('\r\n')).toBe(true);
    expect(parse(row)).toEqual([
      ["'=1+1", "'+SUM(A1)", "'-2", "'@cmd", "'\tx", 'a,b', 'say "hi"', 'line\nbreak', ' padded ', '42', '', 'plain'],
    ]);
  });
});

describe('exportFileName', () => {
  it('builds a safe name from the title and the id', () => {
    expect(exportFileName({ id: 'abc', title: '../../etc/passwd <Q4> Über' }, 'pdf')).toBe('etc-passwd-q4-uber-abc.pdf');
    expect(exportFileName({ id: 'abc', title: null }, 'json')).toBe('conversation-abc.json');
  });
});

describe('fontRuns', () => {
  it('splits by script and keeps spaces at the edge of Arabic runs left-to-right', () => {
    expect(fontRuns('Dock 7: 仓库 ok')).toEqual([
      { font: 'latin', text: 'Dock 7: ' },
      { font: 'cjk', text: '仓库 ' },
      { font: 'latin', text: 'ok' },
    ]);
    expect(fontRuns('Note: المستودع ممتلئ. Done')).toEqual([
      { font: 'latin', text: 'Note: ' },
      { font: 'arabic', text: 'المستودع ممتلئ' },
      { font: 'latin', text: '. Done' },
    ]);
  });
});

describe('writeZipHistory', () => {
  it('cuts the output with the error when the store fails part-way, instead of crashing the process', async () => {
    const output = new Writable({
      write(_chunk: Buffer, _encoding, done) {
        done();
      },
    });
    const destroyed = new Promise<Error>((resolve) => output.on('error', resolve));
    async function* messages(): AsyncGenerator<ExportedMessage> {
      yield { id: 'm1', seq: 1, content: 'first' } as unknown as ExportedMessage;
      await new Promise((wake) => setTimeout(wake, 10));
      throw new Error('the store went away');
    }
    const conversation = { id: 'c1', title: 'Dock 4', updatedAt: new Date().toISOString() } as unknown as ConversationDto;
    const sources = [
      { conversation, messages: messages() },
      { conversation: { ...conversation, id: 'c2' }, messages: messages() },
    ];
    await writeZipHistory(output, Readable.from(sources));
    expect((await destroyed).message).toBe('the store went away');
    expect(output.destroyed).toBe(true);
  });
});
