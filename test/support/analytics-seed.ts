import mongoose from 'mongoose';
import { seededRandom } from '../../bench/lib/stats.js';

const { ObjectId } = mongoose.mongo;
type ObjectId = mongoose.mongo.ObjectId;
type Db = mongoose.mongo.Db;

export interface SeedUser {
  id: string;
  role: string;
  agentKey: string;
}

export interface SeededMessage {
  id: ObjectId;
  conversationId: ObjectId;
  userId: string;
  role: string;
  agentKey: string;
  type: 'user' | 'assistant';
  status: 'completed' | 'failed';
  errorCode: string | null;
  finishReason: string | null;
  processingTime: number | null;
  timeToFirstToken: number | null;
  prompt: number;
  completion: number;
  terms: string[];
  timestamp: Date;
}

export interface SeededHistory {
  messages: SeededMessage[];
  conversations: { id: ObjectId; userId: string; role: string; agentKey: string; createdAt: Date }[];
  attachments: { userId: string; conversationId: ObjectId; fileType: string; fileSize: number; createdAt: Date }[];
  feedback: {
    userId: string;
    conversationId: ObjectId;
    agentKey: string;
    rating: 'up' | 'down';
    comment: string | null;
    createdAt: Date;
  }[];
}

const QUESTIONS = [
  ['short', 'pick', 'short pick', 'locat'],
  ['damag', 'pallet', 'damag pallet'],
  ['forklift', 'batteri', 'forklift batteri'],
  ['label', 'printer', 'label printer'],
];

/**
 * Writes a history straight into the collections, as the app would have stored it: per user
 * and day a few sessions (gaps of minutes within one, hours between them), each question
 * answered (completed, failed, cancelled, or a playbook "no match"), ratings and attachments.
 * The same seed gives the same history; the tests compute what the rollups must say from it.
 */
export async function seedHistory(db: Db, users: readonly SeedUser[], days: readonly Date[], seed = 7): Promise<SeededHistory> {
  const next = seededRandom(seed);
  const history: SeededHistory = { messages: [], conversations: [], attachments: [], feedback: [] };
  for (const user of users) {
    for (const day of days) {
      const sessions = 1 + Math.floor(next() * 3);
      let at = day.getTime() + (6 + Math.floor(next() * 4)) * 3_600_000;
      for (let session = 0; session < sessions; session++) {
        const conversationId = new ObjectId();
        history.conversations.push({
          id: conversationId,
          userId: user.id,
          role: user.role,
          agentKey: user.agentKey,
          createdAt: new Date(at),
        });
        const turns = 1 + Math.floor(next() * 4);
        let seq = 0;
        for (let turn = 0; turn < turns; turn++) {
          const question: SeededMessage = {
            id: new ObjectId(),
            conversationId,
            userId: user.id,
            role: user.role,
            agentKey: user.agentKey,
            type: 'user',
            status: 'completed',
            errorCode: null,
            finishReason: null,
            processingTime: null,
            timeToFirstToken: null,
            prompt: 0,
            completion: 0,
            terms: QUESTIONS[Math.floor(next() * QUESTIONS.length)]!,
            timestamp: new Date(at),
          };
          const outcome = next();
          const failed = outcome < 0.1;
          const cancelled = !failed && outcome < 0.15;
          const noMatch = !failed && !cancelled && outcome < 0.25;
          const processingTime = 50 + Math.floor(next() * 2000);
          const reply: SeededMessage = {
            ...question,
            id: new ObjectId(),
            type: 'assistant',
            status: failed || cancelled ? 'failed' : 'completed',
            errorCode: failed ? 'PROVIDER_TIMEOUT' : cancelled ? 'CANCELLED' : null,
            finishReason: failed || cancelled ? null : noMatch ? 'no_match' : 'stop',
            processingTime,
            timeToFirstToken: failed || cancelled ? null : Math.floor(processingTime / 4),
            prompt: failed || cancelled ? 0 : 100 + Math.floor(next() * 50),
            completion: failed || cancelled ? 0 : 20 + Math.floor(next() * 30),
            terms: [],
            timestamp: new Date(at + 1000),
          };
          history.messages.push(question, reply);
          for (const message of [question, reply]) {
            seq += 1;
            await db.collection('chat_messages').insertOne(toDocument(message, seq));
          }
          if (next() < 0.3) {
            const rating = next() < 0.7 ? 'up' : 'down';
            const feedback = {
              userId: user.id,
              conversationId,
              agentKey: user.agentKey,
              rating,
              comment: next() < 0.5 ? `comment by ${user.id}` : null,
              createdAt: new Date(at + 5000),
            } as const;
            history.feedback.push(feedback);
            await db
              .collection('chat_message_feedback')
              .insertOne({ ...feedback, messageId: reply.id, agentVersion: 1, updatedAt: feedback.createdAt });
          }
          if (next() < 0.2) {
            const attachment = {
              userId: user.id,
              conversationId,
              fileType: next() < 0.5 ? 'image' : 'document',
              fileSize: 1000 + Math.floor(next() * 5000),
              createdAt: new Date(at + 2000),
            };
            history.attachments.push(attachment);
            await db.collection('chat_attachments').insertOne({
              ...attachment,
              messageId: question.id,
              mimeType: 'image/png',
              extension: 'png',
              originalName: 'x.png',
              sha256: '0'.repeat(64),
              storage: { driver: 'removed', key: 'x' },
              processingStatus: 'processed',
              updatedAt: attachment.createdAt,
            });
          }
          at += (1 + Math.floor(next() * 20)) * 60_000;
        }
        await db.collection('chat_conversations').insertOne({
          _id: conversationId,
          userId: user.id,
          role: user.role,
          agentKey: user.agentKey,
          title: null,
          status: 'active',
          metadata: {},
          summary: null,
          lastMessageAt: new Date(at),
          lastActivityAt: new Date(at),
          messageCount: seq,
          lastSeq: seq,
          archivedAt: null,
          deletedAt: null,
          createdAt: history.conversations.at(-1)!.createdAt,
          updatedAt: new Date(at),
        });
        at += (2 + Math.floor(next() * 3)) * 3_600_000;
      }
    }
  }
  return history;
}

function toDocument(message: SeededMessage, seq: number): Record<string, unknown> {
  return {
    _id: message.id,
    conversationId: message.conversationId,
    userId: message.userId,
    type: message.type,
    content: message.type === 'user' ? message.terms.filter((term) => !term.includes(' ')).join(' ') : 'reply',
    tokens: 3,
    status: message.status,
    error: message.errorCode ? { code: message.errorCode, message: 'x' } : null,
    ...(message.type === 'assistant'
      ? {
          generation: {
            agentKey: message.agentKey,
            agentVersion: 1,
            provider: 'playbook',
            model: `playbook:${message.agentKey}@1`,
            finishReason: message.finishReason,
            timeToFirstToken: message.timeToFirstToken,
            attempt: 1,
          },
          tokensUsed: { prompt: message.prompt, completion: message.completion, total: message.prompt + message.completion },
          processingTime: message.processingTime,
        }
      : {}),
    metadata: {},
    timestamp: message.timestamp,
    seq,
    searchTerms: message.terms,
    searchTermsVersion: 2,
    attachmentCount: 0,
    createdAt: message.timestamp,
    updatedAt: message.timestamp,
  };
}

/** The value at rank ⌊q·(n − 1)⌋ of the sorted values (what the sketch answers within 1 %). */
export function exactQuantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** Sessions of one user's activity: runs with no gap over 30 minutes, counted where they start. */
export function sessionsOf(timestamps: readonly number[], from: number, to: number): { count: number; durations: number[] } {
  const sorted = [...timestamps].sort((a, b) => a - b);
  const durations: number[] = [];
  let start: number | null = null;
  let last = 0;
  for (const at of sorted) {
    if (start !== null && at - last <= 30 * 60_000) {
      last = at;
      continue;
    }
    if (start !== null && start >= from && start < to) durations.push(last - start);
    start = at;
    last = at;
  }
  if (start !== null && start >= from && start < to) durations.push(last - start);
  return { count: durations.length, durations };
}
