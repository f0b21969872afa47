import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { MessagesModule } from '../messages/messages.module.js';
import { FeedbackUserDataProvider } from './feedback-user-data.provider.js';
import { FeedbackController } from './feedback.controller.js';
import { FeedbackRepository } from './feedback.repository.js';
import { FeedbackService } from './feedback.service.js';
import { MessageFeedback, MessageFeedbackSchema } from './schemas/feedback.schema.js';

@Module({
  imports: [MessagesModule, MongooseModule.forFeature([{ name: MessageFeedback.name, schema: MessageFeedbackSchema }])],
  controllers: [FeedbackController],
  // FeedbackUserDataProvider registers with the global UserDataRegistry (UserDataModule).
  providers: [FeedbackRepository, FeedbackService, FeedbackUserDataProvider],
  exports: [FeedbackService],
})
export class FeedbackModule {}
