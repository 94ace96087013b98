import { VERSION } from '../version.js';

// apt-ostreed hosts the engine on the D-Bus system bus; its bus objects arrive with the daemon work (issue 4).
// Until then the program only identifies itself, so that packaging and activation files have a target.
const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write(`apt-ostreed ${VERSION}\n`);
} else {
  process.stderr.write('error[daemon-unavailable]: this build of apt-ostreed has no D-Bus service yet — use `apt-ostree` directly as root\n');
  process.exitCode = 1;
}
