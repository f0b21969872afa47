/** Something a user is about to destroy for good: one of their conversations, or a message or file in it. */
export interface DeletionTarget {
  ownerId: string;
  /** The conversation it belongs to, as 24 hex digits. */
  conversationId: string;
}

/**
 * A veto on a user's own hard deletes, registered with the UserDataRegistry (from `onModuleInit`)
 * by a module that must be able to stop them (compliance: a legal hold keeps the evidence). The
 * modules that delete ask every guard first, through `UserDataRegistry.assertMayDelete`, and never
 * learn who refused or why.
 */
export interface DeletionGuard {
  /** A short stable name (`legal-holds`). */
  readonly name: string;
  /** Resolves when the deletion may go ahead; throws the refusal (an AppException) otherwise. */
  assertMayDelete(target: DeletionTarget): Promise<void>;
}

/** How the routes that delete for good document a guard's refusal (their 409). */
export const DELETION_REFUSED_DESCRIPTION =
  'A legal hold is in force on the conversation or on you (code LEGAL_HOLD, `details.holdId` names the hold): nothing was deleted. ' +
  'It can be deleted once the hold is released.';
