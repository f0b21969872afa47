import mongoose from 'mongoose';
import { searchFields } from '../../src/common/text/search-terms.js';

/** Warehouse words every message is made of; RARE_WORDS appear in about one message in twenty. */
export const WORDS =
  'pick pack tote pallet aisle bay slot scan label carton wave zone dock trailer cycle count replenish short damaged lot expiry sku lpn putaway staging shipment carrier manifest'.split(
    ' ',
  );
export const RARE_WORDS = 'forklift quarantine mezzanine overflow battery recall'.split(' ');

export interface SeededConversation {
  id: mongoose.Types.ObjectId;
  userId: string;
  size: number;
}

export interface SeedOptions {
  users: number;
  conversations: number;
  messages: number;
  random: () => number;
  /** Owner ids are `${userPrefix}${index % users}`. */
  userPrefix?: string;
  /** Store search terms as the app does on write (the search benchmark needs them). */
  searchTerms?: boolean;
  start?: Date;
}

/** Log-normal message length: user turns short, assistant turns longer, with a long tail. */
export function chatText(random: () => number, meanWords: number): string {
  const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const words = Math.max(1, Math.round(Math.exp(Math.log(meanWords) + 0.8 * gaussian)));
  const text = Array.from({ length: words }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
  return random() < 0.05 ? `${text} ${RARE_WORDS[Math.floor(random() * RARE_WORDS.length)]}` : text;
}

/** Conversation sizes skewed like real chat: most short, a few very long (sums to `messages`). */
function conversationSizes(options: SeedOptions): number[] {
  const weights = Array.from({ length: options.conversations }, () => (-Math.log(1 - options.random())) ** 1.6);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const sizes = weights.map((weight) => Math.max(2, Math.round((weight / total) * options.messages)));
  let drift = options.messages - sizes.reduce((sum, size) => sum + size, 0);
  for (let i = 0; drift !== 0; i = (i + 1) % sizes.length) {
    if (drift > 0) {
      sizes[i]! += 1;
      drift -= 1;
    } else if (sizes[i]! > 2) {
      sizes[i]! -= 1;
      drift += 1;
    }
  }
  return sizes;
}

/**
 * Writes a chat-like history through the driver, shaped as the app stores it. The seed of
 * `random` fixes the history, so every run sees the same one.
 */
export async function seedHistory(db: mongoose.mongo.Db, options: SeedOptions): Promise<SeededConversation[]> {
  const sizes = conversationSizes(options);
  const start = (options.start ?? new Date('2026-01-01T00:00:00Z')).getTime();
  const prefix = options.userPrefix ?? 'user-';
  const conversations = sizes.map((size, index) => ({
    id: new mongoose.Types.ObjectId(),
    userId: `${prefix}${index % options.users}`,
    size,
  }));
  let batch: Record<string, unknown>[] = [];
  const flush = async () => {
    if (batch.length > 0) await db.collection('chat_messages').insertMany(batch, { ordered: false });
    batch = [];
  };
  for (const [index, conversation] of conversations.entries()) {
    const created = new Date(start + index * 60_000);
    let time = created.getTime();
    for (let seq = 1; seq <= conversation.size; seq += 1) {
      time += 1000 + Math.floor(options.random() * 120_000);
      const type = seq % 2 === 1 ? 'user' : 'assistant';
      const content = chatText(options.random, type === 'user' ? 12 : 60);
      batch.push({
        conversationId: conversation.id,
        userId: conversation.userId,
        type,
        content,
        ...(options.searchTerms ? searchFields('searchTerms', content) : {}),
        metadata: {},
        timestamp: new Date(time),
        seq,
        createdAt: new Date(time),
        updatedAt: new Date(time),
        ...(type === 'assistant' ? { tokensUsed: { prompt: 300, completion: 80, total: 380 }, processingTime: 900 } : {}),
      });
      if (batch.length === 5000) await flush();
    }
    const title = `Conversation ${index}`;
    await db.collection('chat_conversations').insertOne({
      _id: conversation.id,
      userId: conversation.userId,
      title,
      ...(options.searchTerms ? searchFields('titleTerms', title) : {}),
      role: 'warehouse_operator',
      agentKey: 'picking-assistant',
      status: 'active',
      metadata: {},
      lastMessageAt: new Date(time),
      lastActivityAt: new Date(time),
      messageCount: conversation.size,
      lastSeq: conversation.size,
      archivedAt: null,
      deletedAt: null,
      createdAt: created,
      updatedAt: new Date(time),
    });
  }
  await flush();
  return conversations;
}
