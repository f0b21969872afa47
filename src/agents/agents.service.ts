import { HttpStatus, Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { AuthenticatedUser, wmsRoles } from '../auth/authenticated-user.js';
import { AppException, ForbiddenActionException, ResourceNotFoundException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { AgentChangedPayload, DomainEvent } from '../common/events/domain-events.js';
import { toAgentDto, toAgentSummaryDto, toAgentVersionDto } from './agent.mapper.js';
import { AgentChanges, AgentRecord, AgentsRepository } from './agents.repository.js';
import { AgentDto, AgentSummaryDto, AgentVersionDto } from './dto/agent.dto.js';
import { CreateAgentDto, UpdateAgentDto } from './dto/agent-input.dto.js';
import { AgentSettings, settingsOf } from './schemas/agent.schema.js';

/** The agent a conversation talks to, pinned to the version that answers. */
export interface AgentRuntime extends AgentSettings {
  key: string;
  name: string;
  version: number;
}

export interface AgentChoice {
  agentKey: string;
  role: string;
}

const SETTINGS_FIELDS = ['systemPrompt', 'provider', 'model', 'temperature', 'maxTokens', 'contextTokens', 'knowledgeBase'] as const;

@Injectable()
export class AgentsService {
  constructor(
    private readonly agents: AgentsRepository,
    private readonly events: DomainEventBus,
  ) {}

  async listUsable(user: AuthenticatedUser): Promise<AgentSummaryDto[]> {
    return (await this.agents.findEnabledForRoles(user.roles)).map(toAgentSummaryDto);
  }

  async listAll(): Promise<AgentDto[]> {
    return (await this.agents.findAll()).map(toAgentDto);
  }

  async get(key: string): Promise<AgentDto> {
    return toAgentDto(await this.require(key));
  }

  /** `admin` is who made the change: the audit log records it (as for update and delete). */
  async create(admin: AuthenticatedUser, dto: CreateAgentDto): Promise<AgentDto> {
    const created = await this.agents.create(
      {
        key: dto.key,
        name: dto.name,
        description: dto.description ?? '',
        allowedRoles: dto.allowedRoles,
        defaultForRoles: dto.defaultForRoles ?? [],
        systemPrompt: dto.systemPrompt,
        provider: dto.provider,
        model: dto.model ?? null,
        temperature: dto.temperature ?? 0.2,
        maxTokens: dto.maxTokens ?? 512,
        contextTokens: dto.contextTokens ?? 8192,
        knowledgeBase: (dto.knowledgeBase ?? []).map((entry) => ({ ...entry, tags: entry.tags ?? [] })),
        enabled: dto.enabled ?? true,
      },
      new Date(),
    );
    await this.announce(admin, { agentKey: created.key, action: 'created', version: created.version });
    return toAgentDto(created);
  }

  /** Any change to what shapes answers (prompt, provider, model, settings, playbook) makes a new version. */
  async update(admin: AuthenticatedUser, key: string, dto: UpdateAgentDto): Promise<AgentDto> {
    const current = await this.require(key);
    const { knowledgeBase, ...rest } = dto;
    const changes: AgentChanges = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
    if (knowledgeBase) changes.knowledgeBase = knowledgeBase.map((entry) => ({ ...entry, tags: entry.tags ?? [] }));
    if (Object.keys(changes).length === 0) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Nothing to update', []);
    }
    const next = settingsOf({ ...current, ...changes });
    const settingsChanged = SETTINGS_FIELDS.some((field) => !isDeepStrictEqual(next[field], settingsOf(current)[field]));
    const updated = await this.agents.update(key, changes, settingsChanged ? next : null, new Date());
    if (!updated) throw agentNotFound(key);
    await this.announce(admin, { agentKey: key, action: 'updated', version: updated.version, fields: Object.keys(changes).sort() });
    return toAgentDto(updated);
  }

  async delete(admin: AuthenticatedUser, key: string): Promise<void> {
    if (!(await this.agents.delete(key))) throw agentNotFound(key);
    await this.announce(admin, { agentKey: key, action: 'deleted', version: null });
  }

  /**
   * Agent changes are audited: the answer waits until the change is recorded in the audit log.
   * The change is stored first (the entry names the version it made), so when the entry cannot be
   * written the change stays, and the answer is a 500 that says so rather than a 2xx for a change
   * nobody can account for.
   */
  private async announce(admin: AuthenticatedUser, change: Omit<AgentChangedPayload, 'actorId' | 'actorRoles'>): Promise<void> {
    try {
      await this.events.publishAndWait(DomainEvent.AgentChanged, { actorId: admin.id, actorRoles: [...admin.roles], ...change });
    } catch {
      // The listener logged the cause.
      throw new AppException(
        HttpStatus.INTERNAL_SERVER_ERROR,
        ErrorCode.INTERNAL_ERROR,
        `The agent ${change.agentKey} was ${change.action} and the change is stored, but it could not be recorded in the audit log`,
        { agentKey: change.agentKey, change: change.action, version: change.version, stored: true, audited: false },
      );
    }
  }

  /**
   * The agent for a new conversation: the one asked for, else the role's default, else the user's
   * preferred agent, else the default of the user's first WMS role. 400 for an unknown or disabled
   * agent, 403 for an agent or role the user may not use.
   */
  async chooseForConversation(
    user: AuthenticatedUser,
    request: { agentKey?: string; role?: string; preferredAgentKey?: string },
  ): Promise<AgentChoice> {
    if (request.role !== undefined && !user.roles.includes(request.role)) {
      throw new ForbiddenActionException(
        ErrorCode.ROLE_NOT_ALLOWED,
        `You may not start a conversation as ${request.role}: it is not one of your roles`,
      );
    }
    if (request.agentKey !== undefined) {
      const agent = await this.agents.findByKey(request.agentKey);
      if (!agent) throw unknownAgent(request.agentKey);
      if (!agent.enabled) throw disabledAgent(agent.key);
      const role = request.role ?? wmsRoles(user).find((candidate) => agent.allowedRoles.includes(candidate));
      if (role === undefined || !agent.allowedRoles.includes(role)) {
        throw new ForbiddenActionException(
          ErrorCode.AGENT_NOT_ALLOWED,
          `Agent ${agent.key} is not available to ${role ? `the ${role} role` : 'your roles'}`,
        );
      }
      return { agentKey: agent.key, role };
    }
    if (request.role !== undefined) {
      return { agentKey: (await this.defaultFor(request.role)).key, role: request.role };
    }
    if (request.preferredAgentKey !== undefined) {
      const preferred = await this.agents.findByKey(request.preferredAgentKey);
      const role = preferred?.enabled ? wmsRoles(user).find((candidate) => preferred.allowedRoles.includes(candidate)) : undefined;
      if (preferred && role) return { agentKey: preferred.key, role };
    }
    const [firstRole] = wmsRoles(user);
    if (firstRole === undefined) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.ROLE_REQUIRED,
        'role or agentKey is required: your token carries no WMS role to default to',
        [{ field: 'role', messages: ['role is required when the token has no WMS role'] }],
      );
    }
    return { agentKey: (await this.defaultFor(firstRole)).key, role: firstRole };
  }

  /** The agent's current settings, for a chat turn; 409 when it was disabled or deleted since. */
  async runtimeFor(key: string): Promise<AgentRuntime> {
    const agent = await this.agents.findByKey(key);
    if (!agent || !agent.enabled) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.AGENT_UNAVAILABLE,
        `The agent of this conversation (${key}) is no longer available; start a new conversation`,
      );
    }
    return { key: agent.key, name: agent.name, version: agent.version, ...settingsOf(agent) };
  }

  /** The exact settings that produced an answer. */
  async version(key: string, version: number): Promise<AgentVersionDto> {
    const found = await this.agents.findVersion(key, version);
    if (!found) throw new ResourceNotFoundException(ErrorCode.AGENT_NOT_FOUND, `Agent ${key} has no version ${version}`);
    return toAgentVersionDto(found);
  }

  private async defaultFor(role: string): Promise<AgentRecord> {
    const candidates = await this.agents.findEnabledForRoles([role]);
    const agent = candidates.find((candidate) => candidate.defaultForRoles.includes(role)) ?? candidates[0];
    if (!agent) {
      throw new ForbiddenActionException(ErrorCode.AGENT_NOT_ALLOWED, `No agent is available for the ${role} role`);
    }
    return agent;
  }

  private async require(key: string): Promise<AgentRecord> {
    const agent = await this.agents.findByKey(key);
    if (!agent) throw agentNotFound(key);
    return agent;
  }
}

function agentNotFound(key: string): ResourceNotFoundException {
  return new ResourceNotFoundException(ErrorCode.AGENT_NOT_FOUND, `Agent ${key} not found`);
}

function unknownAgent(key: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.UNKNOWN_AGENT, `Unknown agent ${key}`, [
    { field: 'agentKey', messages: [`no agent has the key ${key}`] },
  ]);
}

function disabledAgent(key: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.AGENT_DISABLED, `Agent ${key} is disabled`, [
    { field: 'agentKey', messages: [`agent ${key} is disabled`] },
  ]);
}
