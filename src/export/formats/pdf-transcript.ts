import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import { ExportSource, readableTime, speaker } from './export-model.js';
import { formatBytes, metadataLines } from './text-formats.js';

/**
 * Noto Sans for Latin, Cyrillic and Greek, Noto Sans Arabic and Noto Sans SC (which covers
 * Chinese and Japanese kana), shipped as npm dependencies (@expo-google-fonts, OFL). PDFKit
 * embeds only the glyphs used.
 */
const FONT_FILES = {
  latin: '@expo-google-fonts/noto-sans/400Regular/NotoSans_400Regular.ttf',
  latinBold: '@expo-google-fonts/noto-sans/700Bold/NotoSans_700Bold.ttf',
  arabic: '@expo-google-fonts/noto-sans-arabic/400Regular/NotoSansArabic_400Regular.ttf',
  cjk: '@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf',
} as const;
type FontName = keyof typeof FONT_FILES;

let fonts: Promise<Record<FontName, Buffer>> | undefined;

/** Read once per process (the CJK font alone is 10 MB) and shared by every export. */
function loadFonts(): Promise<Record<FontName, Buffer>> {
  const resolve = createRequire(import.meta.url).resolve;
  fonts ??= Promise.all(
    (Object.keys(FONT_FILES) as FontName[]).map(async (name) => [name, await readFile(resolve(FONT_FILES[name]))] as const),
  ).then((entries) => Object.fromEntries(entries) as Record<FontName, Buffer>);
  return fonts;
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u;
const ARABIC = /[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]/u;

/**
 * Splits text into runs per font. Spaces, digits and punctuation join the run around them, except
 * at the edge of an Arabic run: there they stay left-to-right, or the right-to-left run would
 * carry them to its far side (a space between Arabic and the next word would vanish).
 */
export function fontRuns(text: string): { font: FontName; text: string }[] {
  const runs: { font: FontName; text: string }[] = [];
  let neutral = '';
  const push = (font: FontName, chunk: string) => {
    const last = runs.at(-1);
    if (last?.font === font) last.text += chunk;
    else runs.push({ font, text: chunk });
  };
  for (const char of text) {
    const font: FontName | null = CJK.test(char) ? 'cjk' : ARABIC.test(char) ? 'arabic' : /\p{L}/u.test(char) ? 'latin' : null;
    if (font === null) {
      neutral += char;
      continue;
    }
    const current = runs.at(-1)?.font;
    if (neutral !== '')
      push(current === font || (current !== undefined && current !== 'arabic' && font !== 'arabic') ? current : 'latin', neutral);
    neutral = '';
    push(font, char);
  }
  if (neutral !== '') push(runs.at(-1)?.font === 'arabic' ? 'latin' : (runs.at(-1)?.font ?? 'latin'), neutral);
  return runs;
}

const COLORS = { user: '#1f4e79', assistant: '#2e7d32', system: '#6d6d6d', meta: '#555555', text: '#111111' };

/**
 * Writes a transcript of one conversation (title, dates, each message with speaker, time and
 * attachment list) into a PDF stream. `pace` is awaited between messages, so a slow reader holds
 * the writer back instead of the document piling up in memory.
 */
export async function writePdfTranscript(source: ExportSource, output: NodeJS.WritableStream, pace: () => Promise<void>): Promise<void> {
  const loaded = await loadFonts();
  const { conversation } = source;
  const doc = new PDFDocument({
    size: 'A4',
    margin: 56,
    info: { Title: conversation.title ?? 'Conversation', Creator: 'WMS chat history', CreationDate: new Date() },
  });
  for (const name of Object.keys(loaded) as FontName[]) doc.registerFont(name, loaded[name]);
  const finished = new Promise<void>((resolve, reject) => {
    output.on('finish', resolve);
    output.on('error', reject);
  });
  doc.pipe(output);

  writeRuns(doc, conversation.title ?? 'Untitled conversation', 18, COLORS.text, 'latinBold');
  doc.moveDown(0.4);
  for (const [label, value] of metadataLines(conversation)) writeRuns(doc, `${label}: ${value}`, 9, COLORS.meta);
  doc.moveDown(0.8);

  for await (const message of source.messages) {
    const status = message.status === 'completed' ? '' : ` (${message.status})`;
    writeRuns(doc, `${speaker(message)} · ${readableTime(message.timestamp)}${status}`, 9, COLORS[message.type], 'latinBold');
    doc.moveDown(0.15);
    writeRuns(doc, message.content || '(no text)', 10.5, COLORS.text);
    if (message.error) writeRuns(doc, message.error.message, 9, COLORS.meta);
    for (const attachment of message.attachments) {
      writeRuns(
        doc,
        `Attachment: ${attachment.originalName} (${attachment.mimeType}, ${formatBytes(attachment.fileSize)})`,
        9,
        COLORS.meta,
      );
    }
    doc.moveDown(0.7);
    await pace();
  }
  doc.end();
  await finished;
}

function writeRuns(doc: PDFKit.PDFDocument, text: string, size: number, color: string, latinFont: FontName = 'latin'): void {
  const runs = fontRuns(text);
  doc.fontSize(size).fillColor(color);
  runs.forEach((run, index) => {
    doc.font(run.font === 'latin' ? latinFont : run.font).text(run.text, { continued: index < runs.length - 1, lineGap: 2 });
  });
}
