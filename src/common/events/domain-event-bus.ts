import { Global, Injectable, Module } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { DomainEventMap } from './domain-events.js';

/** Typed face of EventEmitter2: an event name only goes with its own payload type. */
@Injectable()
export class DomainEventBus {
  constructor(private readonly emitter: EventEmitter2) {}

  publish<K extends keyof DomainEventMap>(name: K, payload: DomainEventMap[K]): void {
    this.emitter.emit(name, payload);
  }

  /**
   * Publishes and waits for every listener to finish: for effects the caller's answer must
   * already include (a deleted message's files are gone when the DELETE answers).
   */
  async publishAndWait<K extends keyof DomainEventMap>(name: K, payload: DomainEventMap[K]): Promise<void> {
    await this.emitter.emitAsync(name, payload);
  }
}

@Global()
@Module({ providers: [DomainEventBus], exports: [DomainEventBus] })
export class DomainEventsModule {}
