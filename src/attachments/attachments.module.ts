import { DynamicModule, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { storeUnavailable } from '../common/errors/store-errors.js';
import { MongooseModule, getConnectionToken } from '@nestjs/mongoose';
import type mongoose from 'mongoose';
import type { AppConfig } from '../common/config/app-config.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { AttachmentsContextContributor } from './attachments-context.contributor.js';
import { AttachmentsUserDataProvider } from './attachments-user-data.provider.js';
import { AttachmentsController } from './attachments.controller.js';
import { AttachmentsRepository } from './attachments.repository.js';
import { AttachmentsService } from './attachments.service.js';
import { AttachmentProcessor } from './processing/attachment-processor.js';
import { Attachment, AttachmentSchema } from './schemas/attachment.schema.js';
import { ATTACHMENT_STORAGE, type AttachmentStorage } from './storage/attachment-storage.js';
import { GridFsAttachmentStorage } from './storage/gridfs-storage.js';
import { LocalAttachmentStorage } from './storage/local-storage.js';

/**
 * Files on messages. With CHAT_ENABLE_FILE_UPLOADS=false the routes are not mounted (404 and
 * absent from the API docs), while files already stored still follow their messages and
 * conversations when those are deleted.
 */
@Module({})
export class AttachmentsModule {
  static forRoot(options: { routes: boolean }): DynamicModule {
    return {
      module: AttachmentsModule,
      global: false,
      imports: [MessagesModule, ConversationsModule, MongooseModule.forFeature([{ name: Attachment.name, schema: AttachmentSchema }])],
      controllers: options.routes ? [AttachmentsController] : [],
      providers: [
        {
          provide: ATTACHMENT_STORAGE,
          inject: [ConfigService, getConnectionToken()],
          useFactory: (config: ConfigService<AppConfig, true>, connection: mongoose.Connection): AttachmentStorage => {
            const settings = config.get('attachments', { infer: true });
            return settings.storage === 'gridfs'
              ? new GridFsAttachmentStorage(() => {
                  if (!connection.db) throw storeUnavailable();
                  return connection.db;
                })
              : new LocalAttachmentStorage(settings.directory);
          },
        },
        AttachmentsRepository,
        AttachmentsService,
        AttachmentProcessor,
        AttachmentsContextContributor,
        // Registers with the global UserDataRegistry (UserDataModule), whether or not the routes are mounted.
        AttachmentsUserDataProvider,
      ],
      exports: [AttachmentsService, AttachmentsContextContributor],
    };
  }
}
