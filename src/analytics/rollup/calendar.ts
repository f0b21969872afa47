import { DateTime } from 'luxon';

export const PERIODS = ['daily', 'weekly', 'monthly'] as const;
export type Period = (typeof PERIODS)[number];

/** One day, week or month of the analytics calendar (in CHAT_ANALYTICS_TIMEZONE). */
export interface CalendarPeriod {
  period: Period;
  /** `2026-12-01`, `2026-W49` (ISO week, Monday first) or `2026-12`. */
  key: string;
  start: Date;
  /** Exclusive. */
  end: Date;
}

const HOUR_MS = 3_600_000;
const DAY_KEY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Days, weeks and months in one IANA time zone, so "Monday 07:00" on the dashboard is the
 * warehouse's own Monday morning (days are 23 or 25 hours long across a DST change).
 */
export class AnalyticsCalendar {
  constructor(readonly timeZone: string) {
    if (!DateTime.now().setZone(timeZone).isValid) throw new Error(`Unknown time zone "${timeZone}"`);
  }

  /** The day, week or month that contains `at`. */
  periodOf(period: Period, at: Date): CalendarPeriod {
    const local = DateTime.fromJSDate(at, { zone: this.timeZone });
    const unit = period === 'daily' ? 'day' : period === 'weekly' ? 'week' : 'month';
    return this.fromStart(period, local.startOf(unit));
  }

  /** The day a `YYYY-MM-DD` key names; null when it is not a real date. */
  day(key: string): CalendarPeriod | null {
    if (!DAY_KEY.test(key)) return null;
    const start = DateTime.fromISO(key, { zone: this.timeZone });
    return start.isValid ? this.fromStart('daily', start.startOf('day')) : null;
  }

  /** The period after this one. */
  next(current: CalendarPeriod): CalendarPeriod {
    return this.periodOf(current.period, current.end);
  }

  /** The periods from the one containing `from` through the one containing `to` (inclusive), oldest first. */
  *periodsBetween(period: Period, from: Date, to: Date): Generator<CalendarPeriod> {
    for (let current = this.periodOf(period, from); current.start <= to; current = this.next(current)) yield current;
  }

  /** The day's hour (0–23, local) of each instant; fast when the day has no DST change. */
  hourReader(day: CalendarPeriod): (at: Date) => number {
    const startOffset = DateTime.fromJSDate(day.start, { zone: this.timeZone }).offset;
    const endOffset = DateTime.fromMillis(day.end.getTime() - 1, { zone: this.timeZone }).offset;
    if (startOffset === endOffset) {
      const start = day.start.getTime();
      return (at) => Math.min(23, Math.max(0, Math.floor((at.getTime() - start) / HOUR_MS)));
    }
    return (at) => DateTime.fromJSDate(at, { zone: this.timeZone }).hour;
  }

  /** Weekday of a day, 0 = Monday … 6 = Sunday. */
  weekdayOf(day: CalendarPeriod): number {
    return DateTime.fromJSDate(day.start, { zone: this.timeZone }).weekday - 1;
  }

  private fromStart(period: Period, start: DateTime): CalendarPeriod {
    const end = start.plus(period === 'daily' ? { days: 1 } : period === 'weekly' ? { weeks: 1 } : { months: 1 });
    const key =
      period === 'daily'
        ? start.toISODate()!
        : period === 'weekly'
          ? `${start.weekYear}-W${String(start.weekNumber).padStart(2, '0')}`
          : start.toFormat('yyyy-LL');
    return { period, key, start: start.toJSDate(), end: end.toJSDate() };
  }
}
