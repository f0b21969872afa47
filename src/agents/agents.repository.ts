import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model } from 'mongoose';
import { Agent, AgentSettings, AgentVersion, settingsOf } from './schemas/agent.schema.js';

export type AgentRecord = Agent;

export interface NewAgent extends AgentSettings {
  key: string;
  name: string;
  description: string;
  allowedRoles: string[];
  defaultForRoles: string[];
  enabled: boolean;
}

export type AgentChanges = Partial<Omit<NewAgent, 'key'>>;

/** Owns chat_agents and chat_agent_versions. Agents are shared configuration, not user data. */
@Injectable()
export class AgentsRepository {
  constructor(
    @InjectModel(Agent.name) private readonly agents: Model<Agent>,
    @InjectModel(AgentVersion.name) private readonly versions: Model<AgentVersion>,
  ) {}

  findAll(): Promise<AgentRecord[]> {
    return this.agents.find({}).sort({ key: 1 }).lean<AgentRecord[]>().exec();
  }

  findEnabledForRoles(roles: string[]): Promise<AgentRecord[]> {
    return this.agents
      .find({ enabled: true, allowedRoles: mongoose.trusted({ $in: roles }) })
      .sort({ key: 1 })
      .lean<AgentRecord[]>()
      .exec();
  }

  findByKey(key: string): Promise<AgentRecord | null> {
    return this.agents.findOne({ key }).lean<AgentRecord>().exec();
  }

  /**
   * Inserts the agent and its first version; a duplicate key surfaces as E11000 (409). A key that
   * was deleted keeps its versions, so a new agent under it numbers on after the last of them
   * (version 1 again would collide with the kept snapshot and leave an agent without its own).
   */
  async create(agent: NewAgent, now: Date): Promise<AgentRecord> {
    // Served by the unique index { agentKey, version }.
    const last = await this.versions
      .findOne({ agentKey: agent.key }, { version: 1 })
      .sort({ version: -1 })
      .lean<Pick<AgentVersion, 'version'>>()
      .exec();
    const version = (last?.version ?? 0) + 1;
    const created = await new this.agents({ ...agent, version, createdAt: now, updatedAt: now }).save({ timestamps: false });
    await this.versions.create({ agentKey: agent.key, version, ...settingsOf(agent), createdAt: now });
    return created.toObject<AgentRecord>();
  }

  /** Applies changes; when `newSettings` is given the version goes up by one and is snapshotted. */
  async update(key: string, changes: AgentChanges, newSettings: AgentSettings | null, now: Date): Promise<AgentRecord | null> {
    const updated = await this.agents
      .findOneAndUpdate(
        { key },
        { $set: { ...changes, updatedAt: now }, ...(newSettings ? { $inc: { version: 1 } } : {}) },
        { returnDocument: 'after', timestamps: false },
      )
      .lean<AgentRecord>()
      .exec();
    if (updated && newSettings) {
      await this.versions.create({ agentKey: key, version: updated.version, ...newSettings, createdAt: now });
    }
    return updated;
  }

  async delete(key: string): Promise<boolean> {
    const result = await this.agents.deleteOne({ key }).exec();
    return result.deletedCount === 1;
  }

  findVersion(key: string, version: number): Promise<AgentVersion | null> {
    return this.versions.findOne({ agentKey: key, version }).lean<AgentVersion>().exec();
  }
}
