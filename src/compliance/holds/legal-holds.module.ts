import { Module } from '@nestjs/common';
import { LegalHoldsService } from './legal-holds.service.js';

/** Legal holds on users and conversations. */
@Module({ providers: [LegalHoldsService], exports: [LegalHoldsService] })
export class LegalHoldsModule {}
