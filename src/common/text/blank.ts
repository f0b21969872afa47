/**
 * What shows nothing: white space, control and format characters (`\p{Cf}`: zero-width space,
 * joiners, word joiner, BOM, soft hyphen, bidi marks), and the fillers and selectors that render
 * blank (combining grapheme joiner, Hangul fillers, braille blank, variation selectors).
 */
const INVISIBLE = /^(?:[\s\p{Cc}\p{Cf}\p{Zs}\u115f\u1160\u2800\u3164\uffa0]|\p{Variation_Selector}|\u034f|\u17b4|\u17b5)*$/u;

/** True when a text would show nothing at all: empty, or only invisible characters. */
export function isBlank(text: string): boolean {
  return INVISIBLE.test(text);
}
