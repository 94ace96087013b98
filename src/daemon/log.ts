/** One line per event on stderr (the journal under systemd): `apt-ostreed: <event>[ [title]]: details`. */
export function log(event: string, details = '', title?: string): void {
  const where = title ? ` [${title}]` : '';
  process.stderr.write(`apt-ostreed: ${event}${where}${details ? `: ${details}` : ''}\n`);
}
