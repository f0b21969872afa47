import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';
import { DEFAULT_AGENTS } from './seeds/warehouse-agents.js';

const INDEXES: IndexSpec[] = [
  // agents are addressed by key
  { collection: 'chat_agents', key: { key: 1 }, name: 'key', unique: true },
  // one snapshot per agent version, looked up when tracing an answer
  { collection: 'chat_agent_versions', key: { agentKey: 1, version: 1 }, name: 'agentKey_version', unique: true },
];

const AGENT_DEFAULTS = { provider: 'playbook', model: null, temperature: 0.2, maxTokens: 512, contextTokens: 8192 } as const;

export const seedWarehouseAgents: Migration = {
  id: '0002-seed-warehouse-agents',
  description: 'Create chat_agents and chat_agent_versions; seed the picking, inventory and operations agents',
  async up(db: Db) {
    await ensureCollection(db, 'chat_agents');
    await ensureCollection(db, 'chat_agent_versions');
    await createIndexes(db, INDEXES);

    const now = new Date();
    for (const agent of DEFAULT_AGENTS) {
      const { key, name, description, allowedRoles, defaultForRoles, systemPrompt, knowledgeBase } = agent;
      const settings = { systemPrompt, ...AGENT_DEFAULTS, knowledgeBase };
      // $setOnInsert: an agent an admin has already changed is left alone.
      await db.collection('chat_agents').updateOne(
        { key },
        {
          $setOnInsert: {
            key,
            name,
            description,
            allowedRoles,
            defaultForRoles,
            ...settings,
            enabled: true,
            version: 1,
            createdAt: now,
            updatedAt: now,
          },
        },
        { upsert: true },
      );
      await db
        .collection('chat_agent_versions')
        .updateOne(
          { agentKey: key, version: 1 },
          { $setOnInsert: { agentKey: key, version: 1, ...settings, createdAt: now } },
          { upsert: true },
        );
    }
  },
  async down(db: Db) {
    const keys = DEFAULT_AGENTS.map((agent) => agent.key);
    await db.collection('chat_agents').deleteMany({ key: { $in: keys }, version: 1 });
    await dropIndexes(db, INDEXES);
  },
};
