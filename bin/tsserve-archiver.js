#!/usr/bin/env node
// Thin launcher: the program lives in the compiled dist/src/cli/archiver.js (npm run build).
import { runArchiver } from '../dist/src/cli/archiver.js';

process.exitCode = await runArchiver(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
});
