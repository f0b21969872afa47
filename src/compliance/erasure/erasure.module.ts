import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AuditModule } from '../audit/audit.module.js';
import { LegalHoldsModule } from '../holds/legal-holds.module.js';
import { ActiveErasures } from './active-erasures.js';
import { AdminErasureController, UserErasureController } from './erasure.controller.js';
import { ErasureService } from './erasure.service.js';
import { ErasuresRepository } from './erasures.repository.js';
import { ErasuresJob } from './erasures.job.js';
import { ErasuresUserDataProvider } from './erasures-user-data.provider.js';
import { Erasure, ErasureSchema } from './schemas/erasure.schema.js';

/**
 * Erasure (GDPR Art. 17) and anonymisation of a user, by the user or an admin, through every
 * registered user-data provider; the `erasures` job resumes those a stopped instance left.
 */
@Module({
  imports: [AuditModule, LegalHoldsModule, MongooseModule.forFeature([{ name: Erasure.name, schema: ErasureSchema }])],
  controllers: [UserErasureController, AdminErasureController],
  // ErasuresUserDataProvider registers with the global UserDataRegistry (UserDataModule).
  providers: [ErasuresRepository, ErasureService, ErasuresJob, ErasuresUserDataProvider, ActiveErasures],
  exports: [ActiveErasures],
})
export class ErasureModule {}
