import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ConversationsModule } from '../../conversations/conversations.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { LegalHoldsModule } from '../holds/legal-holds.module.js';
import { RetentionPoliciesRepository } from './retention-policies.repository.js';
import { RetentionPoliciesService } from './retention-policies.service.js';
import { RetentionPoliciesUserDataProvider } from './retention-policies-user-data.provider.js';
import { RetentionController } from './retention.controller.js';
import { RetentionJob } from './retention.job.js';
import { RetentionPolicy, RetentionPolicySchema } from './schemas/retention-policy.schema.js';

/** Retention policies, the dry run and the scheduled purge. */
@Module({
  imports: [
    AuditModule,
    LegalHoldsModule,
    ConversationsModule,
    MongooseModule.forFeature([{ name: RetentionPolicy.name, schema: RetentionPolicySchema }]),
  ],
  controllers: [RetentionController],
  // RetentionPoliciesUserDataProvider registers with the global UserDataRegistry (UserDataModule); RetentionJob with the JobScheduler.
  providers: [RetentionPoliciesRepository, RetentionPoliciesService, RetentionPoliciesUserDataProvider, RetentionJob],
})
export class RetentionModule {}
