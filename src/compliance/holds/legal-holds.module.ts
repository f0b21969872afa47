import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ConversationsModule } from '../../conversations/conversations.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { LegalHoldsUserDataProvider } from './legal-holds-user-data.provider.js';
import { LegalHoldsController } from './legal-holds.controller.js';
import { LegalHoldsRepository } from './legal-holds.repository.js';
import { LegalHoldsService } from './legal-holds.service.js';
import { LegalHold, LegalHoldSchema } from './schemas/legal-hold.schema.js';

/** Legal holds on users and conversations. */
@Module({
  imports: [AuditModule, ConversationsModule, MongooseModule.forFeature([{ name: LegalHold.name, schema: LegalHoldSchema }])],
  controllers: [LegalHoldsController],
  // LegalHoldsUserDataProvider (as user data) and LegalHoldsService (as the deletion guard) register
  // with the global UserDataRegistry (UserDataModule).
  providers: [LegalHoldsRepository, LegalHoldsService, LegalHoldsUserDataProvider],
  exports: [LegalHoldsService],
})
export class LegalHoldsModule {}
