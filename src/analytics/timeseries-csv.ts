import type { TimeseriesDto } from './dto/analytics.dto.js';

/** `period,start,value,final`, one line per point (no field needs quoting: keys, ISO dates, numbers, booleans). */
export function timeseriesCsv(series: TimeseriesDto): string {
  const lines = series.points.map((point) => `${point.period},${point.start},${point.value ?? ''},${point.final}`);
  return ['period,start,value,final', ...lines].join('\r\n') + '\r\n';
}
