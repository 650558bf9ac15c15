// Types of the parts of scripts/release-verify.mjs the tests use.
export declare function checkTreeAgainstSbom(root: string, sbom: unknown, label: string): Promise<string[]>;
