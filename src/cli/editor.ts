import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { AptOstreeError } from '../lib/errors.js';

/**
 * Lets the user edit text in $VISUAL/$EDITOR (default `editor`, Debian's alternative). The variable is split on
 * spaces into argv — never handed to a shell.
 */
export async function editText(initial: string, header: string): Promise<string> {
  const editor = (process.env.VISUAL ?? process.env.EDITOR ?? 'editor').trim().split(/\s+/);
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-edit-'));
  const file = join(dir, 'kargs');
  try {
    await writeFile(file, `${header}\n${initial}\n`);
    const code = await new Promise<number>((resolve, reject) => {
      const [cmd, ...args] = editor;
      const child = spawn(cmd ?? 'editor', [...args, file], { stdio: 'inherit' });
      child.on('error', reject);
      child.on('close', (c) => { resolve(c ?? 1); });
    });
    if (code !== 0) {
      throw new AptOstreeError('editor-failed', `the editor exited with status ${code}`, 'nothing was changed');
    }
    return (await readFile(file, 'utf8')).split('\n').filter((l) => !l.startsWith('#')).join(' ');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Splits a command line into kernel arguments, keeping double-quoted values together. */
export function splitKargs(text: string): string[] {
  return text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}
