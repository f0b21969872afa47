import { Controller, Get, HttpCode, HttpStatus, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiOkResponse, ApiOperation, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { Response } from 'express';
import { ADMIN_ROLE, type AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { ErrorResponseDto } from '../common/errors/error-response.dto.js';
import { contentDisposition } from '../common/http/content-disposition.js';
import { AnalyticsDashboardService } from './analytics-dashboard.service.js';
import { AnalyticsEnabledGuard } from './analytics-enabled.guard.js';
import { AnalyticsRollupJob } from './analytics-rollup.job.js';
import { DashboardDto, DashboardQuery, RollupRunDto, TimeseriesDto, TimeseriesQuery } from './dto/analytics.dto.js';
import { timeseriesCsv } from './timeseries-csv.js';

const NOT_FOUND = () =>
  ApiResponse({
    status: HttpStatus.NOT_FOUND,
    description:
      'ANALYTICS_SCOPE_NOT_FOUND: the scope is not the caller’s to see. ANALYTICS_DISABLED: analytics is turned off on this deployment ' +
      '(CHAT_ENABLE_ANALYTICS=false), and every analytics route answers so.',
    type: ErrorResponseDto,
  });

@ApiTags('analytics')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@UseGuards(AnalyticsEnabledGuard)
@Controller('chat/analytics')
export class AnalyticsController {
  constructor(
    private readonly dashboards: AnalyticsDashboardService,
    private readonly job: AnalyticsRollupJob,
  ) {}

  @Get('dashboard')
  @ApiOperation({
    summary: 'Totals, chart series and insights of a scope over a date range, from the rollups',
    description:
      'Read from chat_analytics (rolled up every CHAT_ANALYTICS_CRON; `asOf` says when). Percentiles come from mergeable sketches, within 1 % ' +
      'of the exact value. A user sees their own figures; supervisors (CHAT_ANALYTICS_SUPERVISOR_ROLE) the roles they hold; admins everything, ' +
      'and only admins get the feedback comments.',
  })
  @ApiOkResponse({ type: DashboardDto })
  @NOT_FOUND()
  dashboard(@CurrentUser() user: AuthenticatedUser, @Query() query: DashboardQuery): Promise<DashboardDto> {
    return this.dashboards.dashboard(user, query);
  }

  @Get('timeseries')
  @ApiOperation({ summary: 'One figure per day, week or month of a date range, as JSON or CSV (for BI tools)' })
  @ApiExtraModels(TimeseriesDto)
  @ApiOkResponse({
    description: 'The series; `format=csv` answers text/csv with the header `period,start,value,final`.',
    content: {
      'application/json': { schema: { $ref: getSchemaPath(TimeseriesDto) } },
      'text/csv': { schema: { type: 'string' } },
    },
  })
  @NOT_FOUND()
  async timeseries(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: TimeseriesQuery,
    @Res({ passthrough: true }) response: Response,
  ): Promise<TimeseriesDto | string> {
    const series = await this.dashboards.timeseries(user, query);
    if (query.format !== 'csv') return series;
    response.setHeader('Content-Type', 'text/csv; charset=utf-8');
    response.setHeader('Content-Disposition', contentDisposition('attachment', `${series.metric}-${series.granularity}.csv`));
    return timeseriesCsv(series);
  }

  @Post('rollup')
  @Roles(ADMIN_ROLE)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Bring the rollups up to date now (admin)',
    description: 'Runs the rollup job at once under its lease; `skipped` when another instance is running it.',
  })
  @ApiOkResponse({ type: RollupRunDto })
  @ApiErrorResponses(403)
  @NOT_FOUND()
  async rollup(): Promise<RollupRunDto> {
    const run = await this.job.runNow();
    return { status: run.status, counts: run.counts, error: run.status === 'skipped' ? (run.reason ?? null) : run.error };
  }
}
