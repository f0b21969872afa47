import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { MongooseModule, getConnectionToken } from '@nestjs/mongoose';
import type mongoose from 'mongoose';
import { join } from 'node:path';
import type { AppConfig } from '../../common/config/app-config.js';
import { storeUnavailable } from '../../common/errors/store-errors.js';
import { AuditModule } from '../audit/audit.module.js';
import { ErasureModule } from '../erasure/erasure.module.js';
import { AdminDataExportController } from './admin-data-export.controller.js';
import { ExportSpool, SPOOL_DIRECTORY } from './archive/export-spool.js';
import { DataExportController } from './data-export.controller.js';
import { DataExportService } from './data-export.service.js';
import { DataExportUserData } from './data-export.user-data.js';
import { DataExportWorker } from './data-export.worker.js';
import { DataExportsJob } from './data-exports.job.js';
import { DataExportsRepository } from './data-exports.repository.js';
import { DataExport, DataExportSchema } from './schemas/data-export.schema.js';
import { ArchiveOwners } from './storage/archive-owners.js';
import { ARCHIVE_STORE, type ArchiveStore } from './storage/archive-store.js';
import { GridFsArchiveStore } from './storage/gridfs-archive-store.js';
import { LocalArchiveStore } from './storage/local-archive-store.js';

/** Where the local driver keeps archives (beside the attachments directory), and every driver its spool: under DATA_DIR. */
export const DATA_EXPORTS_DIRECTORY = 'data-exports';

/**
 * GDPR data export (Art. 15/20): the caller's archive streamed at once, export jobs for the user
 * and for admins (worker, scheduled resumption and expiry), and this module's own user-data
 * provider. Archives live in the attachments' storage driver (ATTACHMENT_STORAGE). It asks the
 * erasure part whether a user is being erased (ErasureModule must never import this module).
 */
@Module({
  imports: [AuditModule, ErasureModule, MongooseModule.forFeature([{ name: DataExport.name, schema: DataExportSchema }])],
  controllers: [DataExportController, AdminDataExportController],
  providers: [
    {
      provide: ARCHIVE_STORE,
      inject: [ConfigService, getConnectionToken()],
      useFactory: (config: ConfigService<AppConfig, true>, connection: mongoose.Connection): ArchiveStore =>
        config.get('attachments', { infer: true }).storage === 'gridfs'
          ? new GridFsArchiveStore(() => {
              if (!connection.db) throw storeUnavailable();
              return connection.db;
            })
          : new LocalArchiveStore(join(config.get('mongo', { infer: true }).dataDir, DATA_EXPORTS_DIRECTORY)),
    },
    {
      provide: ExportSpool,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) =>
        new ExportSpool(join(config.get('mongo', { infer: true }).dataDir, DATA_EXPORTS_DIRECTORY, SPOOL_DIRECTORY)),
    },
    ArchiveOwners,
    DataExportsRepository,
    DataExportWorker,
    DataExportService,
    DataExportsJob,
    DataExportUserData,
  ],
})
export class DataExportModule {}
