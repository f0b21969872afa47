import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { USER_ID_PATTERN } from '../../../auth/token-verifier.js';
import { IsObjectId } from '../../../common/mongo/object-id.js';
import { Optional } from '../../../common/validation/optional.js';
import { ERASURE_MODES, ERASURE_STATES, type ErasureMode, type ErasureState } from '../schemas/erasure.schema.js';

/** What a user types to erase everything of theirs: the request says so in words, not by a flag set by accident. */
export const ERASE_CONFIRMATION = 'erase-all-my-data';
/** What a user types to anonymise themselves. */
export const ANONYMISE_CONFIRMATION = 'anonymise-all-my-data';

export const REASON_MAX_LENGTH = 500;
export const MAX_NAMES = 20;
export const NAME_MAX_LENGTH = 200;
/** Says something: at least one character that is not white space. */
const SAYS_SOMETHING = /\S/;

const REASON_DESCRIPTION =
  'Why: a ticket reference or the legal basis. Kept with the receipt after the erasure, with e-mail addresses, phone, card and ' +
  'IBAN numbers masked: do not write the person’s name here.';

export class SubjectUserParams {
  @ApiProperty({ description: 'The user: a token subject (1–128 letters, digits and `_ . @ : | -`).', example: 'alice' })
  @Matches(USER_ID_PATTERN, { message: 'userId must be 1-128 characters of letters, digits and _ . @ : | -' })
  userId!: string;
}

export class ErasureIdParams {
  @ApiProperty({ description: 'Erasure id (24 hex characters), from the receipt or the audit entry.', example: '665f1c2e9b1d8a0012345678' })
  @IsObjectId('erasureId')
  erasureId!: string;
}

export class EraseOwnDataQuery {
  @ApiProperty({
    enum: [ERASE_CONFIRMATION],
    description: `Must be exactly \`${ERASE_CONFIRMATION}\`; anything else (or nothing) is a 400 CONFIRMATION_REQUIRED and erases nothing.`,
  })
  @Optional()
  @IsString()
  confirm?: string;
}

export class AnonymiseOwnDataQuery {
  @ApiProperty({
    enum: [ANONYMISE_CONFIRMATION],
    description: `Must be exactly \`${ANONYMISE_CONFIRMATION}\`; anything else (or nothing) is a 400 CONFIRMATION_REQUIRED and changes nothing.`,
  })
  @Optional()
  @IsString()
  confirm?: string;
}

export class AdminEraseQuery {
  @ApiPropertyOptional({ minLength: 1, maxLength: REASON_MAX_LENGTH, description: REASON_DESCRIPTION, example: 'GDPR request #2025-114' })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(REASON_MAX_LENGTH)
  @Matches(SAYS_SOMETHING, { message: 'reason must not be blank' })
  reason?: string;
}

export class AdminAnonymiseDto {
  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_NAMES,
    example: ['Olga Petrova', 'olga.petrova@example.com'],
    description:
      'The person’s names (full, given, family) and e-mail addresses, masked wherever their texts mention them (case-insensitive, ' +
      'whole words; each part of a full name on its own too). The service does not store users’ names: it knows only what tokens ' +
      'carry while a request lasts, so without them here only e-mail addresses, phone, card and IBAN numbers are masked.',
  })
  @Optional()
  @IsArray()
  @ArrayMaxSize(MAX_NAMES)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(NAME_MAX_LENGTH, { each: true })
  @Matches(SAYS_SOMETHING, { each: true, message: 'each name must not be blank' })
  names?: string[];

  @ApiPropertyOptional({ minLength: 1, maxLength: REASON_MAX_LENGTH, description: REASON_DESCRIPTION, example: 'GDPR request #2025-114' })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(REASON_MAX_LENGTH)
  @Matches(SAYS_SOMETHING, { message: 'reason must not be blank' })
  reason?: string;
}

const COUNTS_SCHEMA = {
  type: 'object',
  additionalProperties: { type: 'integer', minimum: 0 },
  example: { chat_conversations: 12, chat_messages: 340, 'files:attachments': 5 },
} as const;

export class ErasureRequesterDto {
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'root',
    description: 'The admin who asked; null when the user asked themselves (their id is not kept).',
  })
  userId!: string | null;

  @ApiProperty({ type: [String], example: ['admin'], description: 'The roles the requester’s token carried.' })
  roles!: string[];

  @ApiProperty({ description: 'The user asked themselves.' })
  self!: boolean;
}

export class ErasureProviderDto {
  @ApiProperty({ example: 'messages', description: 'The part of the service (a user-data provider).' })
  name!: string;

  @ApiProperty({ description: 'It has finished (a resumed erasure skips the parts already done).' })
  done!: boolean;

  @ApiProperty({ ...COUNTS_SCHEMA, description: 'What it removed or changed, per collection or file store.' })
  counts!: Record<string, number>;
}

/** The receipt of an erasure or anonymisation. */
export class ErasureReceiptDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  erasureId!: string;

  @ApiProperty({ enum: ERASURE_MODES, description: 'erase: removed everywhere; anonymise: replaced by a pseudonym, texts masked.' })
  mode!: ErasureMode;

  @ApiProperty({
    enum: ERASURE_STATES,
    description:
      'done; running (another instance or request is working on it); pending (an attempt failed: the `erasures` job retries it ' +
      'within a minute; the request answers 202); failed (attempts used up, or a legal hold placed meanwhile, which stopped it ' +
      'before the parts marked not done: ask again).',
  })
  state!: ErasureState;

  @ApiProperty({ type: ErasureRequesterDto })
  requestedBy!: ErasureRequesterDto;

  @ApiProperty({ type: String, nullable: true, description: 'The admin’s reason, personal data masked.' })
  reason!: string | null;

  @ApiProperty({ ...COUNTS_SCHEMA, description: 'Removed or changed, per collection or file store, all parts together.' })
  counts!: Record<string, number>;

  @ApiProperty({ type: [ErasureProviderDto], description: 'Each part of the service, in the order they ran.' })
  providers!: ErasureProviderDto[];

  @ApiProperty({ type: 'integer', minimum: 1, description: 'Runs started (resumed after a crash, or retried after an error).' })
  attempts!: number;

  @ApiProperty({ type: String, nullable: true, description: 'Why the last attempt failed.' })
  error!: string | null;

  @ApiProperty({ type: String, format: 'date-time' })
  startedAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;
}
