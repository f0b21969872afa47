import { AgentRecord } from './agents.repository.js';
import { AgentDto, AgentSummaryDto, AgentVersionDto } from './dto/agent.dto.js';
import { AgentVersion, settingsOf } from './schemas/agent.schema.js';

export function toAgentSummaryDto(agent: AgentRecord): AgentSummaryDto {
  return {
    key: agent.key,
    name: agent.name,
    description: agent.description,
    allowedRoles: [...agent.allowedRoles],
    defaultForRoles: [...agent.defaultForRoles],
    version: agent.version,
  };
}

export function toAgentDto(agent: AgentRecord): AgentDto {
  return {
    ...toAgentSummaryDto(agent),
    systemPrompt: agent.systemPrompt,
    provider: agent.provider,
    model: agent.model ?? null,
    temperature: agent.temperature,
    maxTokens: agent.maxTokens,
    contextTokens: agent.contextTokens,
    knowledgeBase: agent.knowledgeBase.map(({ id, title, content, tags }) => ({ id, title, content, tags: [...tags] })),
    enabled: agent.enabled,
    createdAt: agent.createdAt.toISOString(),
    updatedAt: agent.updatedAt.toISOString(),
  };
}

export function toAgentVersionDto(version: AgentVersion): AgentVersionDto {
  return { agentKey: version.agentKey, version: version.version, ...settingsOf(version), createdAt: version.createdAt.toISOString() };
}
