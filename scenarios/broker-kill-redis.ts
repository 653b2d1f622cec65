import { brokerKill } from './broker-kill.ts';
import type { Scenario } from './schema.ts';

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
