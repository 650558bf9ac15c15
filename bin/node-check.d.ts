// Types of bin/node-check.js for the tests that import it.
export declare const SUPPORTED_NODE: readonly { major: number; min: string; why: string }[];
export declare function nodeVersionProblem(version: string): string | null;
