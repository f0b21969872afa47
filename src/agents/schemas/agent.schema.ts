import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const AGENT_PROVIDERS = ['playbook', 'openai-compatible'] as const;
export type AgentProvider = (typeof AGENT_PROVIDERS)[number];

export const AGENTS_COLLECTION = 'chat_agents';
export const AGENT_VERSIONS_COLLECTION = 'chat_agent_versions';

@Schema({ _id: false, versionKey: false })
export class KnowledgeEntry {
  @Prop({ type: String, required: true })
  id!: string;

  @Prop({ type: String, required: true })
  title!: string;

  @Prop({ type: String, required: true })
  content!: string;

  @Prop({ type: [String], default: [] })
  tags!: string[];
}
const KnowledgeEntrySchema = SchemaFactory.createForClass(KnowledgeEntry);

/** What shapes an answer; any change to it makes a new agent version. */
export class AgentSettings {
  systemPrompt!: string;
  provider!: AgentProvider;
  /** Null: the provider's configured default (LLM_MODEL). */
  model!: string | null;
  temperature!: number;
  maxTokens!: number;
  /** Token budget of the whole prompt (system prompt, preferences, summary, history). */
  contextTokens!: number;
  knowledgeBase!: KnowledgeEntry[];
}

@Schema({ collection: AGENTS_COLLECTION, timestamps: true, versionKey: false })
export class Agent {
  _id!: Types.ObjectId;

  @Prop({ type: String, required: true })
  key!: string;

  @Prop({ type: String, required: true })
  name!: string;

  @Prop({ type: String, default: '' })
  description!: string;

  @Prop({ type: [String], default: [] })
  allowedRoles!: string[];

  /** Roles for which this agent answers when a conversation names only a role. */
  @Prop({ type: [String], default: [] })
  defaultForRoles!: string[];

  @Prop({ type: String, required: true })
  systemPrompt!: string;

  @Prop({ type: String, enum: AGENT_PROVIDERS, required: true })
  provider!: AgentProvider;

  @Prop({ type: String, default: null })
  model!: string | null;

  @Prop({ type: Number, default: 0.2 })
  temperature!: number;

  @Prop({ type: Number, default: 512 })
  maxTokens!: number;

  @Prop({ type: Number, default: 8192 })
  contextTokens!: number;

  @Prop({ type: [KnowledgeEntrySchema], default: [] })
  knowledgeBase!: KnowledgeEntry[];

  @Prop({ type: Boolean, default: true })
  enabled!: boolean;

  /** Current version; chat_agent_versions holds every version's settings. */
  @Prop({ type: Number, default: 1 })
  version!: number;

  createdAt!: Date;
  updatedAt!: Date;
}
export const AgentSchema = SchemaFactory.createForClass(Agent);
// 0002: agents are addressed by key (unique).
AgentSchema.index({ key: 1 }, { unique: true });

/** An immutable snapshot of an agent's settings: assistant messages point at one. */
@Schema({ collection: AGENT_VERSIONS_COLLECTION, versionKey: false })
export class AgentVersion extends AgentSettings {
  _id!: Types.ObjectId;

  @Prop({ type: String, required: true })
  agentKey!: string;

  @Prop({ type: Number, required: true })
  version!: number;

  @Prop({ type: String, required: true })
  declare systemPrompt: string;

  @Prop({ type: String, required: true })
  declare provider: AgentProvider;

  @Prop({ type: String, default: null })
  declare model: string | null;

  @Prop({ type: Number, required: true })
  declare temperature: number;

  @Prop({ type: Number, required: true })
  declare maxTokens: number;

  @Prop({ type: Number, required: true })
  declare contextTokens: number;

  @Prop({ type: [KnowledgeEntrySchema], default: [] })
  declare knowledgeBase: KnowledgeEntry[];

  @Prop({ type: Date, required: true })
  createdAt!: Date;
}
export const AgentVersionSchema = SchemaFactory.createForClass(AgentVersion);
// 0002: one snapshot per (agent, version); looked up when tracing an answer.
AgentVersionSchema.index({ agentKey: 1, version: 1 }, { unique: true });

export function settingsOf(agent: AgentSettings): AgentSettings {
  const { systemPrompt, provider, model, temperature, maxTokens, contextTokens, knowledgeBase } = agent;
  return {
    systemPrompt,
    provider,
    model: model ?? null,
    temperature,
    maxTokens,
    contextTokens,
    knowledgeBase: knowledgeBase.map(({ id, title, content, tags }) => ({ id, title, content, tags: [...tags] })),
  };
}
