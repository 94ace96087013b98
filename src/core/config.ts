import { readFile } from 'node:fs/promises';
import { AptOstreeError } from '../lib/errors.js';
import { KeyFile } from '../lib/keyfile.js';

/**
 * /etc/apt-ostreed.conf, group [Daemon]: what the daemon reads at start and on ReloadConfig, and what
 * `upgrade --trigger-automatic-update-policy` reads when it runs without the daemon.
 */
export const AUTOMATIC_UPDATE_POLICIES = ['none', 'check', 'stage'] as const;
export type AutomaticUpdatePolicy = (typeof AUTOMATIC_UPDATE_POLICIES)[number];

export interface DaemonConfig {
  /** Seconds without clients and transactions before exiting; 0 keeps running. */
  idleExitTimeout: number;
  automaticUpdatePolicy: AutomaticUpdatePolicy;
  lockLayering: boolean;
}

export const DEFAULT_CONFIG: DaemonConfig = { idleExitTimeout: 60, automaticUpdatePolicy: 'none', lockLayering: false };

/** The configuration file: APT_OSTREED_CONFIG (tests) or /etc/apt-ostreed.conf. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.APT_OSTREED_CONFIG ?? '/etc/apt-ostreed.conf';
}

export function parseConfig(text: string, path = configPath()): DaemonConfig {
  const kf = KeyFile.parse(text);
  const config = { ...DEFAULT_CONFIG };
  const idle = kf.get('Daemon', 'IdleExitTimeout');
  if (idle !== undefined) {
    const n = Number(idle);
    if (!Number.isInteger(n) || n < 0) throw new AptOstreeError('parse-error', `${path}: IdleExitTimeout must be a number of seconds, not "${idle}"`);
    config.idleExitTimeout = n;
  }
  const policy = kf.get('Daemon', 'AutomaticUpdatePolicy');
  if (policy !== undefined) {
    if (policy !== 'none' && policy !== 'check' && policy !== 'stage') {
      throw new AptOstreeError('parse-error', `${path}: AutomaticUpdatePolicy must be none, check or stage, not "${policy}"`);
    }
    config.automaticUpdatePolicy = policy;
  }
  const lock = kf.get('Daemon', 'LockLayering');
  if (lock !== undefined) {
    if (lock !== 'true' && lock !== 'false') throw new AptOstreeError('parse-error', `${path}: LockLayering must be true or false, not "${lock}"`);
    config.lockLayering = lock === 'true';
  }
  return config;
}

/** Reads the file; a missing file means the defaults. */
export async function loadConfig(path = configPath()): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return { ...DEFAULT_CONFIG };
    throw err;
  }
  return parseConfig(text, path);
}
