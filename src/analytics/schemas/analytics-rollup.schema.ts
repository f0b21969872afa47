import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { PERIODS, type Period } from '../rollup/calendar.js';
import {
  SCOPES,
  type RollupInsights,
  type RollupMetrics,
  type RollupSketches,
  type Scope,
  type ScopeMembers,
} from '../rollup/rollup-figures.js';

export const ANALYTICS_COLLECTION = 'chat_analytics';

/**
 * One rollup (the design's ChatAnalytics): the figures of one scope — a user, a role, an agent or
 * everyone — over one day, ISO week or month. The id is made of period, key, scope and scope id,
 * so recomputing a period replaces its documents rather than adding any.
 */
@Schema({ collection: ANALYTICS_COLLECTION, versionKey: false, minimize: false })
export class AnalyticsRollup {
  /** `daily:2026-12-01:role:picker` */
  @Prop({ type: String, required: true })
  _id!: string;

  @Prop({ type: String, enum: PERIODS, required: true })
  period!: Period;

  /** `2026-12-01`, `2026-W49` or `2026-12` (in CHAT_ANALYTICS_TIMEZONE). */
  @Prop({ type: String, required: true })
  periodKey!: string;

  @Prop({ type: Date, required: true })
  periodStart!: Date;

  @Prop({ type: Date, required: true })
  periodEnd!: Date;

  @Prop({ type: String, enum: SCOPES, required: true })
  scope!: Scope;

  /** The user id, role, agent key, or `*` for the global scope. */
  @Prop({ type: String, required: true })
  scopeId!: string;

  /** The design's user_id: set on user-scope rollups only (the user-data seam finds them by it). */
  @Prop({ type: String, default: null })
  userId!: string | null;

  @Prop({ type: Object, required: true })
  metrics!: RollupMetrics;

  @Prop({ type: Object, required: true })
  insights!: RollupInsights;

  @Prop({ type: Object, required: true })
  sketches!: RollupSketches;

  /** Daily rollups: the active users and, of them, each feature's users (distinct counts of longer periods and ranges). */
  @Prop({ type: Object, default: null })
  members!: ScopeMembers | null;

  /** A closed period whose facts can no longer change (late sessions included); open ones are recomputed. */
  @Prop({ type: Boolean, required: true })
  final!: boolean;

  /** SHA-256 of the figures: an unchanged recompute leaves the document as it was, generatedAt included. */
  @Prop({ type: String, required: true })
  digest!: string;

  @Prop({ type: Date, required: true })
  generatedAt!: Date;
}

export const AnalyticsRollupSchema = SchemaFactory.createForClass(AnalyticsRollup);

// Created by migrations/0014 (autoIndex is off); each serves the query named.
// The dashboard: one scope's rollups of a period kind between two dates (the scope id leads: it narrows most).
AnalyticsRollupSchema.index({ scopeId: 1, scope: 1, period: 1, periodStart: 1 });
// The rollup job: one period's documents (digests, merges).
AnalyticsRollupSchema.index({ periodStart: 1, period: 1, scope: 1 });
// The dashboard: which roles and agents have rollups in a range (scope picker, lowest-satisfaction agents).
AnalyticsRollupSchema.index({ scope: 1, period: 1, periodStart: 1 });
// The user-data seam: a user's own rollups.
AnalyticsRollupSchema.index({ userId: 1 });
