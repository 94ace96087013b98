// The daemon's settings are read by the engine too (automatic updates in-process): the parser lives in src/core.
export * from '../core/config.js';
