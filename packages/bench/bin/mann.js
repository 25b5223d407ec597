#!/usr/bin/env node
// The `mann` command: runs the built CLI. This file is part of the sources (not of dist/) so that
// npm links the command into node_modules/.bin even before the first build: in the repository,
// `npx mann` then runs this CLI rather than fetching an unrelated package from the registry.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(
    `mann: the CLI is not built (${fileURLToPath(cli)} is missing); run \`npm run build\` in the repository first\n`,
  );
  process.exit(1);
}
await import(cli.href);
