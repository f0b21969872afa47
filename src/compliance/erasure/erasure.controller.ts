import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query, Res, applyDecorators } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ADMIN_ROLE } from '../../auth/authenticated-user.js';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { CurrentUser } from '../../auth/current-user.decorator.js';
import { Roles } from '../../auth/roles.decorator.js';
import { ApiErrorResponses } from '../../common/errors/api-error-responses.decorator.js';
import { AppException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import { ErrorResponseDto } from '../../common/errors/error-response.dto.js';
import {
  ANONYMISE_CONFIRMATION,
  AdminAnonymiseDto,
  AdminEraseQuery,
  AnonymiseOwnDataQuery,
  ERASE_CONFIRMATION,
  EraseOwnDataQuery,
  ErasureIdParams,
  ErasureReceiptDto,
  SubjectUserParams,
} from './dto/erasure.dto.js';
import { ErasureService } from './erasure.service.js';
import { namesFromClaims } from './pseudonymiser.js';

/** The answers every erasure and anonymisation route gives: 200 done, 202 an attempt failed and will be retried, 409 a hold, 500 given up. */
const OUTCOMES = () =>
  applyDecorators(
    ApiOkResponse({
      type: ErasureReceiptDto,
      description:
        'The receipt, once every part of the service has finished (`state: done`), with what was removed or changed per collection ' +
        'and file store. Nothing left (already erased, or never known) is a receipt with zero counts, not a 404.',
    }),
    ApiAcceptedResponse({
      type: ErasureReceiptDto,
      description:
        'An attempt failed part-way (a database hiccup, say): the receipt with `state: pending`, the `error`, and the parts done so ' +
        'far. Nothing needs doing: the `erasures` job retries it with the parts not yet done within about a minute, and the same ' +
        'request again joins it. Admins follow it at `GET /chat/admin/erasures/{erasureId}`.',
    }),
    ApiResponse({
      status: HttpStatus.CONFLICT,
      description:
        'A legal hold covers the user, or a conversation of theirs (code LEGAL_HOLD, `details.holdId`). Found before the work ' +
        'started, nothing was changed. Placed while the work was running, it stopped the work before the next part: nothing ' +
        'further was changed, and `details.erasure` is the receipt (`state: failed`) naming the parts that ran.',
      type: ErrorResponseDto,
    }),
    ApiResponse({
      status: HttpStatus.INTERNAL_SERVER_ERROR,
      description:
        'Code ERASURE_FAILED: the work was given up (its attempts used up, or stopped by a hold released since); `details.erasure` ' +
        'is the receipt (`state: failed`, `error`) naming the parts that ran. Asking again starts it anew. Any other code: an ' +
        'unexpected error, logged with the request id.',
      type: ErrorResponseDto,
    }),
  );

const HOW_IT_RUNS =
  'The request waits until the work is done: for a large history that can take a while. If the connection drops, the work goes on; ' +
  'the same request again joins it and answers its receipt, and admins find it at `GET /chat/admin/erasures/{erasureId}` (the id is ' +
  'in the audit entry). An instance that stops mid-way, or an attempt that fails (answered 202), leaves the rest to the `erasures` ' +
  'job (every minute), which resumes with the parts not yet done. A legal hold is checked before each part: one placed meanwhile ' +
  'stops the work (409). One erasure or anonymisation per user at a time: a second one waits for the first.';

/** 200 for a finished receipt; 202 while it waits for its retry (an attempt failed). */
function answerWith(response: Response, receipt: ErasureReceiptDto): ErasureReceiptDto {
  response.status(receipt.state === 'done' ? HttpStatus.OK : HttpStatus.ACCEPTED);
  return receipt;
}

const ANONYMIZATION_DISABLED = () =>
  ApiResponse({
    status: HttpStatus.NOT_FOUND,
    description:
      'Anonymisation is turned off on this deployment (code ANONYMIZATION_DISABLED; CHAT_ANONYMIZATION_ENABLED=false, the default).',
    type: ErrorResponseDto,
  });

const CONFIRMATION = (phrase: string) =>
  ApiResponse({
    status: HttpStatus.BAD_REQUEST,
    description: `\`confirm\` is not exactly \`${phrase}\` (code CONFIRMATION_REQUIRED), or another invalid input: nothing was changed.`,
    type: ErrorResponseDto,
  });

function assertConfirmed(given: string | undefined, phrase: string): void {
  if (given !== phrase) {
    throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.CONFIRMATION_REQUIRED, `Confirm with confirm=${phrase}`, {
      field: 'confirm',
      expected: phrase,
    });
  }
}

/** The caller's own erasure and anonymisation (GDPR Art. 17). */
@ApiTags('compliance')
@ApiBearerAuth()
@ApiErrorResponses(401)
@Controller('chat/user')
export class UserErasureController {
  constructor(private readonly erasures: ErasureService) {}

  @Delete('data')
  @ApiOperation({
    summary: 'Erase everything the service holds of you (GDPR Art. 17)',
    description:
      'Conversations, messages, attachments and their files (both storage drivers), preferences and kept facts, feedback, export ' +
      'archives and requests; your open sockets are closed; the audit entries about you keep only a keyed hash of your id. ' +
      `Irreversible: confirm with \`confirm=${ERASE_CONFIRMATION}\`. ${HOW_IT_RUNS}`,
  })
  @OUTCOMES()
  @CONFIRMATION(ERASE_CONFIRMATION)
  async eraseOwn(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: EraseOwnDataQuery,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ErasureReceiptDto> {
    assertConfirmed(query.confirm, ERASE_CONFIRMATION);
    return answerWith(response, await this.erasures.erase({ subjectUserId: user.id, requester: user }));
  }

  @Post('anonymise')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Anonymise yourself: your id becomes an irreversible pseudonym, your personal data in texts is masked',
    description:
      'Your user id is replaced everywhere by `anon_` and a keyed hash whose key is thrown away at once, so nobody can link it back ' +
      'to you; e-mail addresses, phone, card and IBAN numbers and your own name and e-mail (from your token) are masked in every ' +
      'text you left; files are removed; counts and token totals stay. After this the data is no longer yours: you cannot see or ' +
      `export it. Irreversible: confirm with \`confirm=${ANONYMISE_CONFIRMATION}\`. ${HOW_IT_RUNS}`,
  })
  @OUTCOMES()
  @CONFIRMATION(ANONYMISE_CONFIRMATION)
  @ANONYMIZATION_DISABLED()
  async anonymiseOwn(
    @CurrentUser() user: AuthenticatedUser,
    @Query() query: AnonymiseOwnDataQuery,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ErasureReceiptDto> {
    this.erasures.assertAnonymisationEnabled();
    assertConfirmed(query.confirm, ANONYMISE_CONFIRMATION);
    return answerWith(response, await this.erasures.anonymise({ subjectUserId: user.id, requester: user, names: namesFromClaims(user) }));
  }
}

/** Admins erase or anonymise any user, and read the receipts. */
@ApiTags('compliance')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Controller('chat/admin')
export class AdminErasureController {
  constructor(private readonly erasures: ErasureService) {}

  @Delete('users/:userId/data')
  @Roles(ADMIN_ROLE)
  @ApiOperation({
    summary: 'Erase everything the service holds of a user (admin; GDPR Art. 17)',
    description:
      'As `DELETE /chat/user/data`, for any user id (a user the service never knew answers a receipt with zero counts). ' +
      `Audited as \`user.erased\`, naming the user by a keyed hash only. ${HOW_IT_RUNS}`,
  })
  @OUTCOMES()
  async erase(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { userId }: SubjectUserParams,
    @Query() query: AdminEraseQuery,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ErasureReceiptDto> {
    return answerWith(response, await this.erasures.erase({ subjectUserId: userId, requester: admin, reason: query.reason }));
  }

  @Post('users/:userId/anonymise')
  @Roles(ADMIN_ROLE)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Anonymise a user (admin): the id becomes an irreversible pseudonym, personal data in texts is masked',
    description:
      'The user id is replaced everywhere by `anon_` and a keyed hash whose key is thrown away at once; e-mail addresses, phone, ' +
      'card and IBAN numbers, and the `names` given, are masked in every text; files are removed; counts and token totals stay. ' +
      'The service does not store users’ names: give them in `names`, or only the other kinds of personal data are masked. ' +
      `Audited as \`user.anonymised\`, naming the user by a keyed hash only. ${HOW_IT_RUNS}`,
  })
  @ApiBody({ type: AdminAnonymiseDto, required: false })
  @OUTCOMES()
  @ANONYMIZATION_DISABLED()
  async anonymise(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { userId }: SubjectUserParams,
    @Body() body: AdminAnonymiseDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ErasureReceiptDto> {
    this.erasures.assertAnonymisationEnabled();
    return answerWith(
      response,
      await this.erasures.anonymise({ subjectUserId: userId, requester: admin, names: body.names ?? [], reason: body.reason }),
    );
  }

  @Get('erasures/:erasureId')
  @Roles(ADMIN_ROLE)
  @ApiOperation({ summary: 'The receipt of an erasure or anonymisation (admin), finished or in progress' })
  @ApiOkResponse({ type: ErasureReceiptDto })
  @ApiErrorResponses(404)
  receipt(@Param() { erasureId }: ErasureIdParams): Promise<ErasureReceiptDto> {
    return this.erasures.receipt(erasureId);
  }
}
