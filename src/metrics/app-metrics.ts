import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Buckets for request and job durations, in seconds: from 5 ms to 2 minutes. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * This app's Prometheus registry, exposed at `/metrics`. One per app instance (never the
 * library's global registry), so several apps in one process, as in the tests, keep their own
 * figures. Modules create the metrics they own here (in their constructor or `onModuleInit`),
 * through the typed helpers; names carry the `chat_` prefix and units as Prometheus names them.
 */
/**
 * The process's own figures (CPU, resident memory, heap, event-loop lag, handles, GC), collected
 * once per process: the collectors start observers that are never stopped, so each app of a
 * process (the tests start many) shares them instead of adding its own.
 */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

@Injectable()
export class AppMetrics {
  readonly registry = new Registry();
  private readonly process = processMetrics();

  counter<Label extends string>(name: string, help: string, labelNames: readonly Label[] = []): Counter<Label> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<Label extends string>(
    name: string,
    help: string,
    labelNames: readonly Label[] = [],
    buckets: number[] = DURATION_BUCKETS,
  ): Histogram<Label> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** A gauge; with `collect`, its value is read when Prometheus scrapes (it may be async). */
  gauge<Label extends string>(
    name: string,
    help: string,
    labelNames: readonly Label[] = [],
    collect?: (gauge: Gauge<Label>) => void | Promise<void>,
  ): Gauge<Label> {
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      ...(collect
        ? {
            collect: function (this: Gauge<Label>) {
              return collect(this);
            },
          }
        : {}),
    });
  }

  /** The exposition, in Prometheus text format: the process's figures and this app's. */
  exposition(): Promise<string> {
    return Registry.merge([this.process, this.registry]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
