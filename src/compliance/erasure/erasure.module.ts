import { Module } from '@nestjs/common';

/** Erasure and anonymisation of a user. */
@Module({})
export class ErasureModule {}
