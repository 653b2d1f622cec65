// aedes-persistence-redis ships no type declarations; this is the one call chaosbench makes.
declare module 'aedes-persistence-redis' {
  import type { Redis, RedisOptions } from 'ioredis';
  /** `conn`: a connection of the caller's own, used instead of one made from the other options. */
  export default function aedesPersistenceRedis(options?: RedisOptions & { maxSessionDelivery?: number; conn?: Redis }): unknown;
}
