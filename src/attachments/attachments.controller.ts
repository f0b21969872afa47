import { Controller, Delete, Get, Headers, HttpCode, HttpStatus, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
  type ApiResponseOptions,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { ErrorResponseDto } from '../common/errors/error-response.dto.js';
import { IdParams } from '../common/mongo/object-id.js';
import { DELETION_REFUSED_DESCRIPTION } from '../common/user-data/deletion-guard.js';
import { AttachmentsService, FileContent } from './attachments.service.js';
import { AttachmentDto, AttachmentListDto } from './dto/attachment.dto.js';
import { GetAttachmentQuery } from './dto/attachment-queries.js';
import { ACCEPTED_MIME_TYPES, ALLOWED_EXTENSIONS, isInlineSafe, servedContentType } from './upload/file-policy.js';
import { contentDisposition } from '../common/http/content-disposition.js';

const ApiPartialContentResponse = (options: Omit<ApiResponseOptions, 'status'>) =>
  ApiResponse({ ...options, status: HttpStatus.PARTIAL_CONTENT });

/** Downloads of a file that is gone: removed when its owner was anonymised, or missing from storage. */
const ApiFileGoneResponse = () =>
  ApiResponse({
    status: HttpStatus.GONE,
    description: 'The file is gone (code ATTACHMENT_UNAVAILABLE): removed when its owner was anonymised, or missing from storage.',
    type: ErrorResponseDto,
  });

/** A download is documented with every type an accepted file can have. */
const FILE_BYTES = Object.fromEntries(ACCEPTED_MIME_TYPES.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]));

/** What a browser may do with served bytes: nothing active, whatever the file claims to be. */
const SERVED_FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox";

@ApiTags('attachments')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 404)
@Controller('chat')
export class AttachmentsController {
  constructor(private readonly attachments: AttachmentsService) {}

  @Post('messages/:id/attachments')
  @ApiOperation({
    summary: 'Attach files to one of your messages',
    description:
      'multipart/form-data with one or more parts in the field `file`. Each file is streamed to storage; its type is decided from its bytes ' +
      `and must match its extension (accepted: ${ALLOWED_EXTENSIONS.join(', ')}). All or nothing: a refused file stores none of the request. ` +
      'Processing (text extraction, thumbnails, media metadata, OCR) follows in the background: watch `processingStatus` or the ' +
      '`attachment:processed` / `attachment:failed` socket events.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      // Any other form field is refused (400).
      additionalProperties: false,
      properties: { file: { type: 'array', minItems: 1, items: { type: 'string', format: 'binary' } } },
    },
  })
  @ApiCreatedResponse({ type: AttachmentListDto })
  @ApiErrorResponses(409, 413, 415)
  async upload(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Req() request: Request): Promise<AttachmentListDto> {
    return { items: await this.attachments.upload(user.id, id, request) };
  }

  @Get('messages/:id/attachments')
  @ApiOperation({ summary: 'List the files attached to a message' })
  @ApiOkResponse({ type: AttachmentListDto })
  async list(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams): Promise<AttachmentListDto> {
    return { items: await this.attachments.listForMessage(user.id, id) };
  }

  @Get('attachments/:id')
  @ApiOperation({ summary: 'An attachment’s metadata and processing state' })
  @ApiOkResponse({ type: AttachmentDto })
  get(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Query() query: GetAttachmentQuery): Promise<AttachmentDto> {
    return this.attachments.get(user.id, id, query.include === 'text');
  }

  @Get('attachments/:id/content')
  @ApiOperation({
    summary: 'Download an attachment (honours Range)',
    description:
      'Content-Type is the sniffed type; anything a browser could run is sent as `Content-Disposition: attachment`. Images are served ' +
      'once processed (location metadata removed): 409 with Retry-After until then.',
  })
  @ApiOkResponse({ description: 'The file, with the type sniffed at upload as its Content-Type.', content: FILE_BYTES })
  @ApiPartialContentResponse({ description: 'The requested range.', content: FILE_BYTES })
  @ApiErrorResponses(409, 416)
  @ApiFileGoneResponse()
  async content(
    @CurrentUser() user: AuthenticatedUser,
    @Param() { id }: IdParams,
    @Headers('range') range: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    const file = await this.attachments.content(user.id, id, range);
    const etag = `"${file.attachment.sha256}"`;
    setFileHeaders(response, file.mimeType, etag);
    response.setHeader('Accept-Ranges', 'bytes');
    response.setHeader(
      'Content-Disposition',
      contentDisposition(isInlineSafe(file.mimeType) ? 'inline' : 'attachment', file.attachment.originalName),
    );
    if (ifNoneMatch === etag && !file.range) {
      file.stream.destroy();
      response.status(HttpStatus.NOT_MODIFIED).end();
      return;
    }
    if (file.range) {
      response.status(HttpStatus.PARTIAL_CONTENT);
      response.setHeader('Content-Range', `bytes ${file.range.start}-${file.range.end}/${file.totalSize}`);
    }
    await send(response, file);
  }

  @Get('attachments/:id/thumbnail')
  @ApiOperation({ summary: 'A small WebP preview of an image attachment (once processed)' })
  @ApiOkResponse({ description: 'The thumbnail.', content: { 'image/webp': { schema: { type: 'string', format: 'binary' } } } })
  @ApiFileGoneResponse()
  async thumbnail(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Res() response: Response): Promise<void> {
    const thumbnail = await this.attachments.thumbnail(user.id, id);
    setFileHeaders(response, thumbnail.mimeType, `"${thumbnail.etag}"`);
    response.setHeader('Content-Disposition', 'inline');
    await send(response, thumbnail);
  }

  @Delete('attachments/:id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete an attachment and its stored files' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiResponse({ status: HttpStatus.CONFLICT, description: DELETION_REFUSED_DESCRIPTION, type: ErrorResponseDto })
  remove(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams): Promise<void> {
    return this.attachments.remove(user.id, id);
  }
}

function setFileHeaders(response: Response, mimeType: string, etag: string): void {
  response.setHeader('Content-Type', servedContentType(mimeType));
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Content-Security-Policy', SERVED_FILE_CSP);
  response.setHeader('Cache-Control', 'private, no-cache');
  response.setHeader('ETag', etag);
}

async function send(response: Response, file: Pick<FileContent, 'stream' | 'length'>): Promise<void> {
  response.setHeader('Content-Length', String(file.length));
  try {
    await pipeline(file.stream, response);
  } catch {
    // The client went away, or storage failed mid-file: the connection is closed either way.
    response.destroy();
  }
}
