import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { PreferencesUserDataProvider } from './preferences-user-data.provider.js';
import { PreferencesController } from './preferences.controller.js';
import { PreferencesRepository } from './preferences.repository.js';
import { PreferencesService } from './preferences.service.js';
import { UserPreferences, UserPreferencesSchema } from './schemas/user-preferences.schema.js';

@Module({
  imports: [MongooseModule.forFeature([{ name: UserPreferences.name, schema: UserPreferencesSchema }])],
  controllers: [PreferencesController],
  // PreferencesUserDataProvider registers with the global UserDataRegistry (UserDataModule).
  providers: [PreferencesRepository, PreferencesService, PreferencesUserDataProvider],
  exports: [PreferencesService],
})
export class PreferencesModule {}
