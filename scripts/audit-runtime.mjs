// Fail on high or critical advisories in the runtime dependencies (`npm audit --omit=dev`).
// When the registry cannot answer the audit request at all (some mirrors and proxies only
// allow GET), the audit is reported as not run instead of failing the build, because no
// advisory was found either way.
import { spawnSync } from 'node:child_process';

const result = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(result.stdout);
} catch {
  console.error(`npm audit printed no JSON report (exit status ${result.status}):\n${result.stderr}`);
  process.exit(1);
}

if (report.metadata?.vulnerabilities) {
  const counts = report.metadata.vulnerabilities;
  const serious = (counts.high ?? 0) + (counts.critical ?? 0);
  console.log(`npm audit: ${counts.total ?? 0} advisories in runtime dependencies, ${serious} high or critical`);
  if (serious > 0) {
    spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high'], { stdio: 'inherit' });
    process.exit(1);
  }
  process.exit(0);
}

const reason = report.message ?? report.error?.summary ?? 'no report';
console.log(`npm audit: NOT RUN, the registry did not answer the audit request (${reason})`);
