import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';

/** Tokens of a text with the o200k_base encoding (GPT-4o family): close enough for budgeting other models. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : countO200k(text);
}

/** Chat formatting adds a few tokens per message on top of its text. */
const TOKENS_PER_MESSAGE = 4;

export function countMessageTokens(messages: readonly { content: string }[]): number {
  return messages.reduce((sum, message) => sum + TOKENS_PER_MESSAGE + countTokens(message.content), 3);
}
