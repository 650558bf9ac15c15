// Types of the parts of scripts/release-lib.mjs the tests use.
export declare const NODE_RUNTIME_VERSION: string;
export declare const PREFIX: string;
export declare function withCacheLock<T>(name: string, fn: () => T): T;
