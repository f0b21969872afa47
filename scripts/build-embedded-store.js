#!/usr/bin/env node
// Builds embedded-store/target/embedded-store.jar (mongo-java-server + launcher) once; later runs
// are no-ops unless the launcher's sources changed. Needs Java 17+ and Maven on PATH.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const project = join(root, 'embedded-store');
const jar = join(project, 'target', 'embedded-store.jar');

function newestSource(dir) {
  return readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name);
    const time = entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs;
    return Math.max(newest, time);
  }, 0);
}

if (process.env.MONGODB_URI) {
  process.exit(0);
}
const sourcesTime = Math.max(newestSource(join(project, 'src')), statSync(join(project, 'pom.xml')).mtimeMs);
if (existsSync(jar) && statSync(jar).mtimeMs >= sourcesTime) {
  process.exit(0);
}
process.stderr.write('Building the embedded MongoDB-compatible store (first run only)...\n');
const result = spawnSync('mvn', ['-q', '-B', '-f', join(project, 'pom.xml'), 'package'], { stdio: 'inherit' });
if (result.error || result.status !== 0) {
  process.stderr.write(
    `Could not build the embedded store (${result.error?.message ?? `mvn exited ${result.status}`}).\n` +
      'Install Java 17+ and Maven (apt-get install -y openjdk-17-jdk-headless maven), or set MONGODB_URI to a MongoDB server.\n',
  );
  process.exit(1);
}
