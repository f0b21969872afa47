import { Injectable } from '@nestjs/common';

/**
 * Legal holds: while a hold on a user or a conversation is active, nothing of it is purged,
 * erased or anonymised.
 */
@Injectable()
export class LegalHoldsService {
  /** Throws 409 LEGAL_HOLD when an active hold covers the user. */
  async assertUserNotHeld(_userId: string): Promise<void> {
    // Filled in with the holds collection.
  }
}
