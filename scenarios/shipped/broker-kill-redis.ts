// Shipped scenario `broker-kill-redis`: broker-kill.ts with one field changed, the embedded
// broker's persistence; phases, seed and checks are broker-kill's, so the two runs compare.

import { brokerKill } from './broker-kill.ts';
import type { Scenario } from '../schema.ts';

/**
 * broker-kill with the embedded broker's sessions and queued QoS 1 messages in Redis
 * (aedes-persistence-redis, REDIS_URL): the same kill, but what the broker had accepted survives it.
 * Compare with `broker-kill` (memory persistence).
 */
export const brokerKillRedis = {
  ...brokerKill,
  name: 'broker-kill-redis',
  description: 'broker-kill with Redis persistence (REDIS_URL): queued messages and sessions survive the SIGKILL',
  broker: { persistence: 'redis' },
} satisfies Scenario;
