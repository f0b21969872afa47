import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService, MongooseHealthIndicator } from '@nestjs/terminus';
import { InjectConnection } from '@nestjs/mongoose';
import type mongoose from 'mongoose';
import { Public } from '../auth/public.decorator.js';
import { ErrorResponseDto } from '../common/errors/error-response.dto.js';
import { WithoutStore } from '../database/store-available.guard.js';
import { StoreStatus } from '../database/store-status.js';

/** The embedded store's own status command (see embedded-store/). */
interface EmbeddedStoreStatus {
  diskFull: boolean;
  usableBytes: number;
  minFreeBytes: number;
}

@ApiTags('health')
@Public()
@WithoutStore()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly mongo: MongooseHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly store: StoreStatus,
    @InjectConnection() private readonly connection: mongoose.Connection,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up and serving HTTP' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary: 'Readiness: the store is up, migrated, answers a ping and (embedded store) has disk space for writes',
  })
  @ApiOkResponse({ description: 'Ready.' })
  @ApiServiceUnavailableResponse({
    description: 'Not ready; `details` names each check and the reason (store restarting, unreachable, out of disk, migrating).',
    type: ErrorResponseDto,
  })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.storeCheck(),
      () => this.mongo.pingCheck('mongodb').withTimeout(1500),
      ...(this.store.embeddedKind === 'mongo-java-server' ? [() => this.diskCheck()] : []),
    ]);
  }

  private storeCheck() {
    const { available, reason } = this.store.availability();
    const session = this.indicators.check('store');
    return available ? session.up() : session.down({ reason });
  }

  private diskCheck() {
    return this.indicators
      .check('storage')
      .attempt(async () => {
        const status = (await this.connection.db!.admin().command({ wmsStoreStatus: 1 })) as unknown as EmbeddedStoreStatus;
        if (status.diskFull) {
          throw new Error(
            `STORAGE_FULL: ${megabytes(status.usableBytes)} MB free, writes need ${megabytes(status.minFreeBytes)} MB; free disk space and writes resume`,
          );
        }
        return { freeMb: megabytes(status.usableBytes) };
      })
      .withTimeout(1500);
  }
}

function megabytes(bytes: number): number {
  return Math.floor(bytes / 2 ** 20);
}
