import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';
import { FEATURES, type Feature } from '../rollup/rollup-figures.js';

export const FEATURE_USAGE_COLLECTION = 'chat_feature_usage';

/**
 * How often a user used a feature that leaves no other trace in the store (a search, a
 * conversation export, a realtime connection) on one day: the stored facts behind search and
 * export use and feature adoption.
 */
@Schema({ collection: FEATURE_USAGE_COLLECTION, versionKey: false })
export class FeatureUsage {
  _id!: Types.ObjectId;

  @Prop({ type: String, required: true })
  userId!: string;

  /** `2026-12-01` (in CHAT_ANALYTICS_TIMEZONE). */
  @Prop({ type: String, required: true })
  day!: string;

  @Prop({ type: String, enum: FEATURES, required: true })
  feature!: Feature;

  @Prop({ type: Number, required: true, min: 0 })
  count!: number;

  @Prop({ type: Date, required: true })
  lastAt!: Date;
}

export const FeatureUsageSchema = SchemaFactory.createForClass(FeatureUsage);

// Created by migrations/0014 (autoIndex is off).
// One counter per user, day and feature (recording is an upsert on it).
FeatureUsageSchema.index({ userId: 1, day: 1, feature: 1 }, { unique: true });
// The rollup job: one day's usage.
FeatureUsageSchema.index({ day: 1 });
