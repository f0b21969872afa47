import { countTokens as countO200k, setMergeCacheSize } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * Special tokens (`<|endoftext|>`, ...) in user text are counted as the ordinary text they are;
 * by default the library throws on them.
 */
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * The longest run of non-space (or of space) characters, in UTF-16 code units, handed to the
 * encoder in one piece. The encoder splits text into pieces (words, runs of punctuation or space)
 * and merges each piece's bytes pair by pair, which costs the square of the piece's length: one
 * unbroken 32,000-character word took seconds. Longer runs are cut into pieces of this length, so
 * the cost stays linear in the text; text whose runs are all shorter is counted exactly as before,
 * and a cut inside a very long run changes its count by about one token per cut.
 */
export const MAX_TOKENIZER_RUN = 64;

/**
 * The encoder's own cache of merged pieces is off. Once full (100,000 pieces, which one large
 * upload's text fills) it evicts its oldest entry on every miss by walking its Map from the start
 * over the deleted entries before it, which made every later count many times slower (seconds for
 * one long message, growing with what the process had counted before). Merging a piece of at most
 * MAX_TOKENIZER_RUN characters is cheap; without the cache the cost depends on the text alone.
 */
setMergeCacheSize(0);

/** Tokens of a text with the o200k_base encoding (GPT-4o family): close enough for budgeting other models. */
export function countTokens(text: string): number {
  let total = 0;
  for (const segment of encoderSegments(text)) total += countO200k(segment, AS_PLAIN_TEXT);
  return total;
}

/**
 * The text in consecutive segments, cut only inside runs of non-space (or space) characters
 * longer than MAX_TOKENIZER_RUN, every MAX_TOKENIZER_RUN code units, never inside a surrogate
 * pair. Text without such runs is one segment.
 */
export function* encoderSegments(text: string): Generator<string> {
  if (text.length === 0) return;
  let segmentStart = 0;
  let runStart = 0;
  let runIsSpace = isSpace(text.charCodeAt(0));
  for (let i = 1; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    const space = isSpace(code);
    if (space !== runIsSpace) {
      runIsSpace = space;
      runStart = i;
    } else if (i - runStart >= MAX_TOKENIZER_RUN && !isLowSurrogate(code)) {
      yield text.slice(segmentStart, i);
      segmentStart = i;
      runStart = i;
    }
  }
  yield segmentStart === 0 ? text : text.slice(segmentStart);
}

/** Chat formatting adds a few tokens per message on top of its text. */
const TOKENS_PER_MESSAGE = 4;

export function countMessageTokens(messages: readonly { content: string }[]): number {
  return messages.reduce((sum, message) => sum + TOKENS_PER_MESSAGE + countTokens(message.content), 3);
}

/**
 * Exactly the characters of JavaScript's `\s`, which the encoder's pattern uses: its pieces never
 * span more than one run of each kind (plus a leading character), so cutting runs bounds them.
 */
function isSpace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
