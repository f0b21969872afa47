/**
 * What the analytics rollups read from each module's stored data: plain records of one time
 * window, streamed in time order by the module that owns the collection (MessagesService,
 * ConversationsService, AttachmentsService, FeedbackService). Analytics never reads another
 * module's model; these shapes are the whole contract.
 */

export interface MessageFact {
  id: string;
  conversationId: string;
  /** The conversation's owner (also on assistant and system messages). */
  userId: string;
  type: 'user' | 'assistant' | 'system';
  status: 'pending' | 'completed' | 'failed';
  /** The failure's code (`CANCELLED`, `PROVIDER_TIMEOUT`, ...) of a failed reply. */
  errorCode: string | null;
  /** The agent and model that wrote an assistant reply. */
  agentKey: string | null;
  model: string | null;
  /** How the reply ended (`stop`, `length`, `no_match` when the playbook had no answer, ...). */
  finishReason: string | null;
  /** Milliseconds the server spent producing an assistant reply. */
  processingTime: number | null;
  timeToFirstToken: number | null;
  promptTokens: number;
  completionTokens: number;
  timestamp: Date;
}

/** A user message's search terms (stemmed words and word pairs, stop words out): topics and question keys. */
export interface QuestionTermsFact {
  id: string;
  conversationId: string;
  userId: string;
  terms: readonly string[];
  timestamp: Date;
}

export interface ConversationFact {
  id: string;
  userId: string;
  role: string;
  agentKey: string | null;
  createdAt: Date;
}

/** Who a conversation belongs to and which agent role it talks to. */
export interface ConversationLabel {
  role: string;
  agentKey: string | null;
}

export interface AttachmentFact {
  userId: string;
  conversationId: string;
  fileType: string;
  fileSize: number;
  createdAt: Date;
}

export interface FeedbackFact {
  userId: string;
  conversationId: string;
  agentKey: string | null;
  rating: 'up' | 'down';
  hasComment: boolean;
  createdAt: Date;
}

/** A feedback comment as admins see it on the dashboard. */
export interface FeedbackComment {
  rating: 'up' | 'down';
  comment: string;
  agentKey: string | null;
  conversationId: string;
  createdAt: Date;
}

/** The text of a question, for the unanswered-questions insight (read when the dashboard is shown). */
export interface QuestionText {
  id: string;
  content: string;
}
