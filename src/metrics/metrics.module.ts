import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppMetrics } from './app-metrics.js';
import { ChatMetricsListener } from './chat-metrics.listener.js';

/**
 * Prometheus metrics: the registry every module records into (global, so a module injects
 * AppMetrics without importing this one); `GET /metrics` serves it (metrics-endpoint.ts).
 * Imported once, by AppModule. With analytics off (CHAT_ENABLE_ANALYTICS=false) the business
 * counters are not registered at all; operational figures (HTTP, realtime, store, jobs,
 * process) stay.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(options: { analytics: boolean }): DynamicModule {
    return {
      module: MetricsModule,
      providers: [AppMetrics, ...(options.analytics ? [ChatMetricsListener] : [])],
      exports: [AppMetrics],
    };
  }
}
