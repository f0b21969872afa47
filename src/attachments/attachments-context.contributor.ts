import { Injectable } from '@nestjs/common';
import type { ContextContributor, ContextRequest } from '../common/context/context-contributor.js';
import { AttachmentsService } from './attachments.service.js';

/** Puts the text of the conversation's files into the agent's prompt. */
@Injectable()
export class AttachmentsContextContributor implements ContextContributor {
  constructor(private readonly attachments: AttachmentsService) {}

  contribute(request: ContextRequest): Promise<string[]> {
    return this.attachments.contextSections(request);
  }
}
