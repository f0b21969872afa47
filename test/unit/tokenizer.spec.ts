import { countTokens as countWhole } from 'gpt-tokenizer/encoding/o200k_base';
import { MAX_TOKENIZER_RUN, countTokens, encoderSegments } from '../../src/common/text/tokenizer.js';

describe('countTokens', () => {
  it('counts ordinary text exactly as the encoder does on the whole text', () => {
    const texts = [
      'What do I do about a short pick in zone B-12?',
      'Kurzpick: Artikel 4711 fehlt im Fach — bitte prüfen.\n\n  Danke!',
      '拣货短缺怎么处理？请检查库位。',
      'emoji 😀👍🏽 and tabs\tand   spaces',
      'x'.repeat(MAX_TOKENIZER_RUN) + ' y',
    ];
    for (const text of texts) expect(countTokens(text)).toBe(countWhole(text));
    expect(countTokens('')).toBe(0);
  });

  it('counts a run longer than the piece limit in pieces, close to the whole-text count', () => {
    const word = Array.from({ length: 4000 }, (_, i) => 'abcdefghij'[(i * 7) % 10]).join('');
    const whole = countWhole(word);
    expect(Math.abs(countTokens(word) - whole)).toBeLessThanOrEqual(Math.ceil(word.length / MAX_TOKENIZER_RUN) + 1);
  });

  it('cuts long runs between surrogate pairs, never inside one, and loses nothing', () => {
    // Even and odd offsets: a cut every MAX_TOKENIZER_RUN code units would land inside a pair.
    for (const text of ['😀'.repeat(1000), `a${'😀'.repeat(1000)}`, `${'x'.repeat(200)} ${'y'.repeat(10)}`]) {
      const segments = [...encoderSegments(text)];
      expect(segments.join('')).toBe(text);
      for (const segment of segments) {
        expect(segment.length).toBeLessThanOrEqual(MAX_TOKENIZER_RUN + 1);
        expect(/[\ud800-\udfff]/u.test(segment)).toBe(false);
      }
    }
    expect([...encoderSegments('a short sentence that stays whole')]).toHaveLength(1);
  });

  it('counts special tokens in user text as the plain text they are', () => {
    expect(countTokens('What is <|endoftext|>?')).toBeGreaterThan(3);
  });
});
