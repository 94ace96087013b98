/**
 * What apt decided for a layering request, in apt's own order. The apt side (src/core/apt) produces it from
 * `apt-get -s`; the tree side (src/core/layering) replays it with dpkg inside the sandbox, so Pre-Depends and
 * configure ordering are apt's, not ours.
 */
export interface PlannedPackage {
  name: string;
  /** dpkg architecture (amd64, all, …). */
  arch: string;
  version: string;
  /** The version the base commit has, when this step changes a base package (override replace). */
  baseVersion?: string | undefined;
  /** True when the user asked for it by name (or file); false for dependencies (marked automatic). */
  requested: boolean;
  /** Where the .deb is once downloaded (absolute path on the host); set by the download step. */
  debPath?: string | undefined;
  /** Size in bytes from the repository index (for download totals). */
  size?: number | undefined;
  /** Repository URL of the .deb ('' for a local file). */
  uri?: string | undefined;
  /**
   * SHA256 of the .deb from the repository's index. apt only compares sizes before reusing a file in its
   * archives directory, so the download step checks cached files against it.
   */
  sha256?: string | undefined;
}

export type PlanStep =
  | { kind: 'unpack'; packages: string[] }
  | { kind: 'configure'; packages: string[] }
  | { kind: 'remove'; packages: string[]; purge: boolean };

export interface LayeringPlan {
  /** Packages to install or replace, keyed by `name:arch`. */
  install: PlannedPackage[];
  /** Base or layered packages to remove (override remove, uninstall). */
  remove: { name: string; arch: string; version: string }[];
  /** apt's order: unpack X, configure X, remove Y (names are `name:arch`). */
  steps: PlanStep[];
  /** Total download size in bytes of what is not cached yet. */
  downloadBytes: number;
}
