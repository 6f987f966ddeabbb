// Link the riskgate command into this checkout's node_modules/.bin, as npm does for a
// dependency's bin but not for the project's own, so `npx riskgate` runs the local build.
import { chmodSync, existsSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'dist', 'cli', 'main.js');
const link = join(root, 'node_modules', '.bin', 'riskgate');

if (!existsSync(target)) {
  console.error(`link-bin: ${target} is missing; run npm run build first`);
  process.exit(1);
}

chmodSync(target, 0o755);
mkdirSync(dirname(link), { recursive: true });
try {
  if (lstatSync(link)) unlinkSync(link);
} catch {
  // No earlier link to replace.
}
symlinkSync(relative(dirname(link), target), link);
