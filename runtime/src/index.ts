// docs/behaviour.md §1.1: the public API of the `fleche` package.
export {
	fleche,
	isFleche,
	findFleche,
	listFleche,
	type Fleche,
	type FlecheHelpers,
	type FlecheDecorator,
	type FlecheLocation,
	type MetadataFilter,
	type CacheableFunction,
} from './wrapper.js';
export type { FlecheOptions, LeaseOptions } from './options.js';
export { cache, meta, tags, project, Scope, CacheScope, type MetaOptions, type CacheOptions } from './state.js';
export { BoundWrapper, bind, type Bound, type BoundState } from './bound.js';
export { describeBound, isBoundCall, isBoundReply, type BoundCall, type BoundReply } from './bound.js';
export { runBoundCall } from './workerRun.js';
export { threadsWorker, workerFile, WorkerExited, type ThreadsWorker } from './executor/threads.js';
export { wrapExecutor, type Submit, type WrappedExecutor, type WrapExecutorOptions } from './executor/wrapExecutor.js';
export { digest, D, Digest, addHook, removeHook, digestSymbol, isHexDigest, DIGEST_LENGTH, type KeyCache } from './digest.js';
export { registerClass, type RegisterClassOptions } from './classes.js';
export type { Call, CallRecord, FunctionIdentity, Json, Metadata } from './call.js';
export { recordKey } from './key.js';
export { LazyCall } from './lazyCall.js';
export { QueryIterator, type QueryFilter, type CallKey, type TableRow, type TableOptions } from './query.js';
export { BaseCache, type Hit, type PendingCall, type PreparedCall, type CacheConfig, type TransferOptions } from './caches/base.js';
export { Cache, DEFAULT_GC_GRACE_SECONDS, type GcOptions, type GcReport, type CacheStoreOptions } from './caches/cache.js';
export type { ExpiryOptions } from './expiry.js';
export type { Duration } from './duration.js';
export { setClock } from './clock.js';
export { CacheWrapper, RefreshingCache } from './caches/wrapper.js';
export { CacheStack } from './caches/cacheStack.js';
export { CachePool } from './caches/cachePool.js';
export { ReadOnlyCache } from './caches/readOnlyCache.js';
export { FilteredCache } from './caches/filteredCache.js';
export { SizeLimitedCache, type SizeLimitedOptions } from './caches/sizeLimitedCache.js';
export { rekey, type RekeySource, type RekeyTarget, type RekeyOptions, type RekeyMove, type RekeyReport } from './rekey.js';
export {
	cacheByName,
	cacheFromConfig,
	fileCache,
	registerCacheType,
	loadConfig,
	reloadConfig,
	FlecheConfig,
	type CacheFactory,
} from './config/build.js';
export { defaultRoot, ConfigError, ParsedConfig, type LoadConfigOptions, type ConfigSource } from './config/read.js';
export { registerStorage, registerStorageKind, type StorageFactory } from './storage/registry.js';
export type { StorageKind, StorageRole, StorageSite, StoragePair, TomlReader, TomlTable, SummaryIndex, IndexEntry, Listing, ListedFunction, Disposable } from './storage/kinds.js';
export { Runtime, Environment, Git, Tags, type MetaData, type MetaDataConfig, type MetaCall } from './metadata.js';
export type { ValueStorage, CallStorage, KeyManagement, StorageConfig, CallStats, StatsStorage, CallLeases, LeaseAttempt, LeaseHolder, LeaseTerms, HeldLease, HeldValues, RecordWithValues } from './storage/base.js';
export { flushStats, isStatsStorage } from './stats.js';
export { isRerun, RERUN_ENV } from './rerunMode.js';
export { ValueMemory, CallMemory } from './storage/memory.js';
export { ValueVoid, CallVoid } from './storage/void.js';
export { ValueFile, type ValueFileOptions } from './storage/file/values.js';
export { CallFile, type CallFileOptions } from './storage/file/calls.js';
export { CallSql, type CallSqlOptions } from './storage/sql/store.js';
export { CallPostgres, ValuePostgres, type PostgresOptions, type ValuePostgresOptions, type PostgresConfig } from './storage/postgres/store.js';
export { CallSsh, ValueSsh, type SshOptions, type SshConfig } from './storage/ssh/store.js';
export type { RemoteInfo } from './storage/ssh/protocol.js';
export { SshCache } from './caches/sshCache.js';
export { registerSerializer, type Serializer } from './storage/serializers.js';
export {
	FlecheError,
	KeyError,
	Indigestible,
	Rejected,
	SaveError,
	AmbiguousDigestError,
	CorruptEntry,
	SignatureError,
	RemoteConnectionError,
} from './errors.js';
export { setLogger, resetLogger, type LogRecord, type LogSink, type LogLevel } from './log.js';
export { flecheVersion } from './version.js';
