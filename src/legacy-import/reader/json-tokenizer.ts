/**
 * A streaming JSON tokenizer: text goes in chunk by chunk, tokens come out as they complete, so
 * a dump of gigabytes is read with memory bounded by its largest kept string. Strings longer
 * than `maxStringLength` are not kept: their token says how long they were (`TooLongString`).
 */

/** A string value that was longer than the tokenizer keeps. */
export class TooLongString {
  constructor(readonly length: number) {}
}

export type JsonScalar = string | number | boolean | null | TooLongString;

export interface JsonTokenHandler {
  startObject(): void;
  endObject(): void;
  startArray(): void;
  endArray(): void;
  key(name: string | TooLongString): void;
  value(value: JsonScalar): void;
}

export class JsonSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`invalid JSON at line ${line}, column ${column}: ${reason}`);
    this.name = 'JsonSyntaxError';
  }
}

type Container = 'object' | 'array';
/** What the grammar allows next. */
type Expect = 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'colon' | 'commaOrEnd' | 'done';
type Lexeme = 'none' | 'string' | 'number' | 'literal';

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const MAX_NUMBER_LENGTH = 64;
/** Deeper nesting is no chat history: refused before it costs memory. */
const MAX_DEPTH = 64;
const PYTHON_NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

export class JsonTokenizer {
  private readonly stack: Container[] = [];
  private expect: Expect = 'value';
  private lexeme: Lexeme = 'none';
  private text: string[] = [];
  private textLength = 0;
  private stringIsKey = false;
  /** Inside a string: -1 normally, 0 right after a backslash, 1..4 while reading \uXXXX digits. */
  private escape = -1;
  private unicodeDigits = '';
  private line = 1;
  private column = 0;

  constructor(
    private readonly handler: JsonTokenHandler,
    private readonly maxStringLength: number,
  ) {}

  /** Where the last character read is, for messages. */
  position(): { line: number; column: number } {
    return { line: this.line, column: this.column };
  }

  write(chunk: string): void {
    for (let index = 0; index < chunk.length; index += 1) {
      const char = chunk[index]!;
      if (char === '\n') {
        this.line += 1;
        this.column = 0;
      } else this.column += 1;
      if (this.lexeme === 'string') {
        // The common case, taken in one slice: plain characters up to the next quote or backslash.
        if (this.escape < 0 && char !== '"' && char !== '\\') {
          let end = index + 1;
          while (end < chunk.length) {
            const next = chunk.charCodeAt(end);
            if (next === 0x22 || next === 0x5c || next < 0x20) break;
            end += 1;
          }
          if (char < ' ') this.fail('control character in a string (escape it)');
          this.appendText(chunk.slice(index, end));
          this.column += end - index - 1;
          index = end - 1;
          continue;
        }
        this.stringChar(char);
      } else if (this.lexeme !== 'none') {
        if (/[0-9a-zA-Z.+-]/.test(char)) {
          this.appendText(char);
          if (this.textLength > MAX_NUMBER_LENGTH) this.fail('a number or literal too long');
          continue;
        }
        this.endLexeme();
        this.structural(char);
      } else this.structural(char);
    }
  }

  /** Call once the input is over: fails when the document is incomplete. */
  end(): void {
    if (this.lexeme === 'number' || this.lexeme === 'literal') this.endLexeme();
    if (this.lexeme === 'string') this.fail('the input ends inside a string');
    if (this.expect !== 'done') this.fail(this.stack.length > 0 ? `the input ends inside an ${this.stack.at(-1)}` : 'no JSON value');
  }

  private structural(char: string): void {
    if (WHITESPACE.has(char)) return;
    switch (this.expect) {
      case 'done':
        return this.fail(`unexpected ${describe(char)} after the end of the document`);
      case 'colon':
        if (char !== ':') return this.fail(`expected ':' after an object key, found ${describe(char)}`);
        this.expect = 'value';
        return;
      case 'key':
      case 'keyOrEnd':
        if (char === '}' && this.expect === 'keyOrEnd') return this.close('object');
        if (char !== '"') return this.fail(`expected an object key in double quotes, found ${describe(char)}`);
        return this.startString(true);
      case 'commaOrEnd': {
        const container = this.stack.at(-1)!;
        if (char === ',') {
          this.expect = container === 'object' ? 'key' : 'value';
          return;
        }
        if ((char === '}' && container === 'object') || (char === ']' && container === 'array')) return this.close(container);
        return this.fail(`expected ',' or '${container === 'object' ? '}' : ']'}', found ${describe(char)}`);
      }
      case 'value':
      case 'valueOrEnd':
        if (char === ']' && this.expect === 'valueOrEnd') return this.close('array');
        return this.startValue(char);
    }
  }

  private startValue(char: string): void {
    if ((char === '{' || char === '[') && this.stack.length >= MAX_DEPTH) {
      return this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    }
    if (char === '{') {
      this.stack.push('object');
      this.expect = 'keyOrEnd';
      this.handler.startObject();
    } else if (char === '[') {
      this.stack.push('array');
      this.expect = 'valueOrEnd';
      this.handler.startArray();
    } else if (char === '"') {
      this.startString(false);
    } else if (char === '-' || (char >= '0' && char <= '9')) {
      this.startLexeme('number', char);
    } else if (char === 't' || char === 'f' || char === 'n' || char === 'N' || char === 'I') {
      this.startLexeme('literal', char);
    } else {
      this.fail(`expected a value, found ${describe(char)}`);
    }
  }

  private close(container: Container): void {
    this.stack.pop();
    if (container === 'object') this.handler.endObject();
    else this.handler.endArray();
    this.afterValue();
  }

  private afterValue(): void {
    this.expect = this.stack.length === 0 ? 'done' : 'commaOrEnd';
  }

  private startString(isKey: boolean): void {
    this.lexeme = 'string';
    this.stringIsKey = isKey;
    this.text = [];
    this.textLength = 0;
    this.escape = -1;
  }

  private stringChar(char: string): void {
    if (this.escape === 0) {
      if (char === 'u') {
        this.escape = 1;
        this.unicodeDigits = '';
        return;
      }
      const escaped = ESCAPES[char];
      if (escaped === undefined) return this.fail(`unknown escape \\${char}`);
      this.escape = -1;
      return this.appendText(escaped);
    }
    if (this.escape > 0) {
      if (!/[0-9a-fA-F]/.test(char)) return this.fail('\\u must be followed by four hex digits');
      this.unicodeDigits += char;
      if (this.escape === 4) {
        this.escape = -1;
        return this.appendText(String.fromCharCode(parseInt(this.unicodeDigits, 16)));
      }
      this.escape += 1;
      return;
    }
    if (char === '\\') {
      this.escape = 0;
      return;
    }
    // char is the closing quote
    const value = this.textLength > this.maxStringLength ? new TooLongString(this.textLength) : this.text.join('');
    this.lexeme = 'none';
    this.text = [];
    if (this.stringIsKey) {
      this.expect = 'colon';
      this.handler.key(value);
    } else {
      this.afterValue();
      this.handler.value(value);
    }
  }

  private startLexeme(kind: 'number' | 'literal', char: string): void {
    this.lexeme = kind;
    this.text = [char];
    this.textLength = 1;
  }

  private endLexeme(): void {
    const text = this.text.join('');
    const kind = this.lexeme;
    this.lexeme = 'none';
    this.text = [];
    let value: JsonScalar;
    if (PYTHON_NON_FINITE.has(text)) {
      // Not JSON, but Python's json.dump writes them for float('nan') and the infinities: read
      // as numbers, they are refused where a number must be finite, instead of the whole dump.
      value = Number(text);
    } else if (kind === 'number') {
      if (!NUMBER.test(text)) return this.fail(`not a number: ${text}`);
      value = Number(text);
    } else if (text === 'true' || text === 'false' || text === 'null') {
      value = text === 'null' ? null : text === 'true';
    } else {
      return this.fail(`unexpected ${JSON.stringify(text)}`);
    }
    this.afterValue();
    this.handler.value(value);
  }

  private appendText(part: string): void {
    // Past the limit the text is only counted: a huge string costs no memory.
    if (this.textLength <= this.maxStringLength) this.text.push(part);
    this.textLength += part.length;
    if (this.textLength > this.maxStringLength && this.text.length > 0) this.text = [];
  }

  private fail(reason: string): never {
    throw new JsonSyntaxError(reason, this.line, this.column);
  }
}

function describe(char: string): string {
  return /[\x20-\x7e]/.test(char) ? `'${char}'` : `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}
