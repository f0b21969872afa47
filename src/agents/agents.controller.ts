import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ADMIN_ROLE } from '../auth/authenticated-user.js';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { ErrorResponseDto } from '../common/errors/error-response.dto.js';
import { AgentsService } from './agents.service.js';
import { AgentDto, AgentSummaryDto, AgentVersionDto } from './dto/agent.dto.js';
import { AgentKeyParams, AgentVersionParams, CreateAgentDto, UpdateAgentDto } from './dto/agent-input.dto.js';

/** Every change is recorded in the audit log before it is answered; when that fails, the change is stored all the same. */
const NOT_AUDITED = () =>
  ApiResponse({
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    description:
      'Code INTERNAL_ERROR with `details.stored: true`: the change was made and is stored, but it could not be recorded in the ' +
      'audit log (the cause is logged). Do not repeat it; have the audit log looked at.',
    type: ErrorResponseDto,
  });

@ApiTags('agents')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@Controller('chat/agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  @ApiOperation({ summary: 'Agents your roles may use' })
  @ApiOkResponse({ type: [AgentSummaryDto] })
  list(@CurrentUser() user: AuthenticatedUser): Promise<AgentSummaryDto[]> {
    return this.agents.listUsable(user);
  }

  @Get('admin')
  @Roles(ADMIN_ROLE)
  @ApiOperation({ summary: 'Every agent with its prompt, settings and playbook (admin)' })
  @ApiOkResponse({ type: [AgentDto] })
  @ApiErrorResponses(403)
  listAll(): Promise<AgentDto[]> {
    return this.agents.listAll();
  }

  @Get(':key')
  @Roles(ADMIN_ROLE)
  @ApiOperation({ summary: 'One agent (admin)' })
  @ApiOkResponse({ type: AgentDto })
  @ApiErrorResponses(403, 404)
  get(@Param() { key }: AgentKeyParams): Promise<AgentDto> {
    return this.agents.get(key);
  }

  @Get(':key/versions/:version')
  @Roles(ADMIN_ROLE)
  @ApiOperation({
    summary: 'The exact prompt and settings of one agent version (admin): what an answer’s generation.agentVersion points at',
  })
  @ApiOkResponse({ type: AgentVersionDto })
  @ApiErrorResponses(403, 404)
  version(@Param() { key, version }: AgentVersionParams): Promise<AgentVersionDto> {
    return this.agents.version(key, version);
  }

  @Post()
  @Roles(ADMIN_ROLE)
  @ApiOperation({ summary: 'Create an agent (admin)' })
  @ApiCreatedResponse({ type: AgentDto })
  @ApiErrorResponses(403, 409)
  @NOT_AUDITED()
  create(@CurrentUser() admin: AuthenticatedUser, @Body() dto: CreateAgentDto): Promise<AgentDto> {
    return this.agents.create(admin, dto);
  }

  @Patch(':key')
  @Roles(ADMIN_ROLE)
  @ApiOperation({ summary: 'Change an agent (admin); changes to what shapes answers make a new version' })
  @ApiOkResponse({ type: AgentDto })
  @ApiErrorResponses(403, 404)
  @NOT_AUDITED()
  update(@CurrentUser() admin: AuthenticatedUser, @Param() { key }: AgentKeyParams, @Body() dto: UpdateAgentDto): Promise<AgentDto> {
    return this.agents.update(admin, key, dto);
  }

  @Delete(':key')
  @Roles(ADMIN_ROLE)
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete an agent (admin); its versions stay, so past answers remain traceable' })
  @ApiNoContentResponse()
  @ApiErrorResponses(403, 404)
  @NOT_AUDITED()
  async remove(@CurrentUser() admin: AuthenticatedUser, @Param() { key }: AgentKeyParams): Promise<void> {
    await this.agents.delete(admin, key);
  }
}
