import type { Readable } from 'node:stream';
import type { Types } from 'mongoose';

/** What an operation found or changed, per collection or file store (`chat_messages: 120`). */
export type DataCounts = Record<string, number>;

/** Where a provider keeps a user's data, and which fields name the user there. */
export interface UserDataHolding {
  /** A MongoDB collection, or a file store written as `files:<name>` (`files:attachments`). */
  store: string;
  /** Fields that carry the user's id (dotted paths for nested ones). */
  userFields: readonly string[];
  /** What it is, for the archive's README and the admin inventory. */
  description: string;
}

/**
 * One part of a user's data archive: records (written as JSON Lines and, when `csvColumns` is
 * given, as CSV too) or one file's bytes. Parts are produced lazily so nothing is held in memory.
 */
export type ExportPart =
  | {
      kind: 'records';
      /** The base name in the archive: `messages` gives `json/messages.jsonl` and `csv/messages.csv`. */
      name: string;
      description: string;
      records: AsyncIterable<Record<string, unknown>>;
      /** Columns of the CSV rendering (dotted paths into the record); no CSV without them. */
      csvColumns?: readonly string[];
    }
  | {
      kind: 'file';
      /** The path in the archive, under `files/` (a safe name: no `..`, no leading `/`). */
      path: string;
      description: string;
      size: number;
      open(): Promise<Readable>;
    };

/** What pseudonymisation replaces the user with. */
export interface Pseudonymisation {
  userId: string;
  /** The irreversible pseudonym that takes the user id's place everywhere. */
  pseudonym: string;
  /** Masks personal data (emails, phone, card and IBAN numbers, the user's own names) in free text. */
  maskText(text: string): string;
}

/**
 * The seam through which compliance reaches every module's data of a user. Each module that
 * stores anything of a user registers one provider with the UserDataRegistry (from its
 * `onModuleInit`); compliance drives them all and never touches another module's model.
 *
 * Every operation is idempotent: erasing or pseudonymising twice, or resuming after a crash
 * mid-way, finishes the work without error.
 */
export interface UserDataProvider {
  /** A short stable name (`messages`), used in receipts and job progress. */
  readonly name: string;
  readonly holdings: readonly UserDataHolding[];
  /** Counts what it holds of the user, per store. */
  inventory(userId: string): Promise<DataCounts>;
  /** Streams the user's data out as archive parts. */
  export(userId: string): AsyncIterable<ExportPart>;
  /** Removes every trace of the user; answers what it removed, per store. */
  erase(userId: string): Promise<DataCounts>;
  /** Replaces the user by a pseudonym and masks personal data, keeping counts and aggregates valid. */
  pseudonymise(request: Pseudonymisation): Promise<DataCounts>;
}

/**
 * The part of a module's data that hangs under conversations (messages, attachments and their
 * files, feedback), so retention can purge whole conversations. Conversations themselves are
 * removed last, by the conversations module, so an interrupted purge is found again.
 */
export interface ConversationDataProvider {
  readonly name: string;
  /** What purging these conversations would remove, per store. */
  countForConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts>;
  purgeConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts>;
  /** Replaces these conversations' owner by a pseudonym and masks personal data (retention policies that anonymise). */
  pseudonymiseConversations(conversationIds: readonly Types.ObjectId[], request: Pseudonymisation): Promise<DataCounts>;
}

/** Adds counts into `into` (and answers it). */
export function addCounts(into: DataCounts, more: DataCounts): DataCounts {
  for (const [store, count] of Object.entries(more)) into[store] = (into[store] ?? 0) + count;
  return into;
}
