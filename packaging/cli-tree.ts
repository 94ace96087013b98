/**
 * The command tree of the built client, read from the `--help` of every command of dist/apt-ostree.mjs. The bash
 * completion is generated from it and the man page test checks against it, so both follow what the shipped program
 * really accepts. main.ts builds its commander program at import time and runs it, so the help output is the one
 * stable view of the tree from outside; commander's help layout (two-space indented `term  description` rows under
 * `Options:`, `Arguments:` and `Commands:`) is what is parsed, and readCliTree fails loudly when it does not look so.
 */
import { fileURLToPath } from 'node:url';
import { run } from '../src/lib/exec.js';

export const CLIENT_BUNDLE = fileURLToPath(new URL('../dist/apt-ostree.mjs', import.meta.url));

export interface CliOption {
  short: string | undefined;
  long: string;
  /** The value placeholder as written in the help (`<path>`, `<ref...>`), or undefined for a flag. */
  value: string | undefined;
}

export interface CliArgument {
  name: string;
  required: boolean;
  variadic: boolean;
}

export interface CliCommand {
  /** Names from the program down, without `apt-ostree`: [] for the program, ['compose', 'tree'] for a subcommand. */
  path: string[];
  aliases: string[];
  args: CliArgument[];
  /** The command's own options, `-h, --help` included (and `--version` for the program). */
  options: CliOption[];
  commands: CliCommand[];
  /** commander's implicit `help [command]` is offered next to the subcommands. */
  helpCommand: boolean;
}

/** The terms (`-n, --dry-run`, `upgrade|update [options]`) of one `Heading:` section; wrapped descriptions are skipped. */
function section(help: string, heading: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(`${heading}:`);
  if (start < 0) return [];
  const terms: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || !line.startsWith('  ')) break;
    // A term is two spaces in, its words separated by single spaces; a wrapped description line is indented deeper.
    const m = /^ {2}(\S(?:\S| (?! ))*)/.exec(line);
    if (m?.[1] !== undefined) terms.push(m[1]);
    else if (terms.length === 0) throw new Error(`unexpected help line under ${heading}: ${JSON.stringify(line)}`);
  }
  return terms;
}

function parseOption(term: string): CliOption {
  const m = /^(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)(?: (\S+))?$/.exec(term);
  if (!m || m[2] === undefined) throw new Error(`unexpected option in help: ${JSON.stringify(term)}`);
  return { short: m[1], long: m[2], value: m[3] };
}

function parseUsageArgs(usage: string): CliArgument[] {
  const args: CliArgument[] = [];
  for (const m of usage.matchAll(/([<[])([a-z][a-z0-9-]*)(\.\.\.)?[>\]]/g)) {
    if (m[2] === undefined || m[2] === 'options' || m[2] === 'command') continue;
    args.push({ name: m[2], required: m[1] === '<', variadic: m[3] !== undefined });
  }
  return args;
}

async function readCommand(bundle: string, path: string[], aliases: string[]): Promise<CliCommand> {
  const help = (await run([process.execPath, bundle, ...path, '--help'], { env: { ...process.env, COLUMNS: '80' } })).stdout;
  const usage = /^Usage: apt-ostree(.*)$/m.exec(help)?.[1];
  if (usage === undefined) throw new Error(`no usage line in the help of ${['apt-ostree', ...path].join(' ')}:\n${help}`);
  const options = section(help, 'Options').map(parseOption);
  if (!options.some((o) => o.long === '--help')) throw new Error(`no --help option in the help of ${path.join(' ')}`);
  const children: { names: string[] }[] = [];
  let helpCommand = false;
  for (const term of section(help, 'Commands')) {
    const names = (term.split(' ')[0] ?? '').split('|');
    if (names[0] === 'help') { helpCommand = true; continue; }
    children.push({ names });
  }
  const commands = await Promise.all(children.map((c) => readCommand(bundle, [...path, c.names[0] ?? ''], c.names.slice(1))));
  // The usage line names this command (and its aliases, for subcommands) before the arguments: drop those words.
  const words = usage.trim().split(' ');
  const argsPart = words.filter((w) => /^[<[]/.test(w)).join(' ');
  return { path, aliases, args: parseUsageArgs(argsPart), options, commands, helpCommand };
}

/** Reads the whole tree from the bundle (the built client, dist/apt-ostree.mjs by default). */
export async function readCliTree(bundle = CLIENT_BUNDLE): Promise<CliCommand> {
  const tree = await readCommand(bundle, [], []);
  if (!tree.commands.some((c) => c.path[0] === 'status') || !tree.options.some((o) => o.long === '--sysroot')) {
    throw new Error(`the help of ${bundle} does not look like apt-ostree's`);
  }
  return tree;
}

/** Every command of the tree, depth first, the program itself first. */
export function allCommands(tree: CliCommand): CliCommand[] {
  return [tree, ...tree.commands.flatMap(allCommands)];
}
