// The `wsgate/redis` entry: topics shared across instances through Redis pub/sub.
// Importing it does not load `redis`; redisTopics() does, and fails with a clear error
// (RedisTopicsError code 'REDIS_MISSING') when the package is not installed.
export { RedisTopics, RedisTopicsError, redisTopics } from './topics/redis';
export type { RedisClientLike, RedisTopicsErrorCode, RedisTopicsOptions, RedisTopicsStats } from './topics/redis';
