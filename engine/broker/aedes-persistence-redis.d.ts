// aedes-persistence-redis ships no type declarations; this is the one call chaosbench makes.
declare module 'aedes-persistence-redis' {
  import type { RedisOptions } from 'ioredis';
  export default function aedesPersistenceRedis(options?: RedisOptions & { maxSessionDelivery?: number }): unknown;
}
