import type { ConfigService } from '@nestjs/config';
import { INVENTORY_ASSISTANT, PICKING_ASSISTANT, type SeedAgent } from '../../migrations/seeds/warehouse-agents.js';
import type { AgentRuntime } from '../../src/agents/agents.service.js';
import type { AppConfig } from '../../src/common/config/app-config.js';
import type { GenerationEvent } from '../../src/chat/providers/chat-provider.js';
import { PlaybookProvider } from '../../src/chat/providers/playbook.provider.js';
import { countTokens } from '../../src/common/text/tokenizer.js';

function runtime(seed: SeedAgent): AgentRuntime {
  return { ...seed, version: 1, provider: 'playbook', model: null, temperature: 0.2, maxTokens: 512, contextTokens: 8192 };
}

const provider = new PlaybookProvider({ get: () => ({ playbookChunkDelayMs: 0 }) } as unknown as ConfigService<AppConfig, true>);
const picking = runtime(PICKING_ASSISTANT);
const inventory = runtime(INVENTORY_ASSISTANT);

async function answer(agent: AgentRuntime, question: string, responseStyle: 'concise' | 'detailed' | null = null) {
  const events: GenerationEvent[] = [];
  const messages = [
    { role: 'system' as const, content: agent.systemPrompt },
    { role: 'user' as const, content: question },
  ];
  for await (const event of provider.generate({ agent, messages, question, responseStyle }, new AbortController().signal))
    events.push(event);
  const text = events.flatMap((event) => (event.type === 'delta' ? [event.text] : [])).join('');
  return { events, text, done: events.at(-1) };
}

describe('PlaybookProvider', () => {
  it('seeds real playbooks: at least 20 entries per agent, unique ids', () => {
    for (const agent of [PICKING_ASSISTANT, INVENTORY_ASSISTANT]) {
      expect(agent.knowledgeBase.length).toBeGreaterThanOrEqual(20);
      expect(new Set(agent.knowledgeBase.map((entry) => entry.id)).size).toBe(agent.knowledgeBase.length);
    }
  });

  it('answers from the best matching entry and cites it', async () => {
    const { text } = await answer(picking, 'What do I do about a short pick? The location is empty.');
    expect(text).toMatch(/^Here is what the playbook says:/);
    expect(text).toContain('**Short pick (not enough stock at the location)** [1]');
    expect(text).toContain('[1] pick-02: Short pick (not enough stock at the location)');
  });

  it('matches misspellings and word prefixes', async () => {
    expect((await answer(picking, 'found a damagd item')).text).toContain('pick-04');
    expect((await answer(inventory, 'how does replenishing work')).text).toContain('inv-05');
  });

  it('says plainly when the playbook has no answer', async () => {
    const { text, done } = await answer(picking, 'What is the weather in Paris tomorrow?');
    expect(text).toMatch(/^I could not find anything about that in the Picking & packing assistant playbook/);
    // Analytics counts these among the questions the agents could not answer.
    expect(done).toMatchObject({ type: 'done', finishReason: 'no_match' });
  });

  it('cites only the best entry for users who prefer concise answers', async () => {
    const { text } = await answer(picking, 'damaged item broken label', 'concise');
    expect(text.match(/\[\d\] pick-/g)).toHaveLength(1);
  });

  it('streams the reply in several chunks and reports token usage', async () => {
    const { events, text, done } = await answer(picking, 'forklift safety in the aisle');
    expect(events.filter((event) => event.type === 'delta').length).toBeGreaterThan(5);
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop', model: 'playbook:picking-assistant@1' });
    if (done?.type === 'done') {
      expect(done.usage.completion).toBe(countTokens(text));
      expect(done.usage.total).toBe(done.usage.prompt + done.usage.completion);
    }
  });

  it('is deterministic', async () => {
    expect((await answer(inventory, 'cycle count variance')).text).toBe((await answer(inventory, 'cycle count variance')).text);
  });

  it('summarises extractively, first sentence of each message, newest kept when over the cap', async () => {
    const summary = await provider.summarize(picking, '- User: Earlier question.', [
      { role: 'user', content: 'The printer is offline. Labels do not print.' },
      { role: 'assistant', content: 'Switch to the backup printer. Then tell your supervisor.' },
    ]);
    expect(summary).toBe('- User: Earlier question.\n- User: The printer is offline.\n- Assistant: Switch to the backup printer.');
    const long = await provider.summarize(
      picking,
      null,
      Array.from({ length: 100 }, (_, i) => ({ role: 'user' as const, content: `Question number ${i} about totes.` })),
    );
    expect(long.length).toBeLessThanOrEqual(2000);
    expect(long).toContain('Question number 99');
    expect(long).not.toContain('Question number 0 ');
  });
});
