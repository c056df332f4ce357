// Each decision of scripts/system-packages.sh, with fake dpkg-query, id and apt-get as the only
// commands on PATH: which packages count as installed, whether we are root, and whether apt-get
// exists are set per case; the fake apt-get records its arguments instead of installing anything.
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, 'system-packages.sh');
const ALL = ['chromium', 'firefox-esr', 'python3-torch', 'libopenblas0-pthread', 'python3-numpy'];

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tabtune-syspkg-'));
  const fake = async (name: string, body: string) => {
    await writeFile(join(dir, name), `#!/bin/bash\n${body}\n`);
    await chmod(join(dir, name), 0o755);
  };
  // dpkg-query -W -f='${Status}' PKG: installed iff PKG is in $FAKE_INSTALLED (space-separated).
  await fake('dpkg-query', 'for p in $FAKE_INSTALLED; do [[ $p == "${@: -1}" ]] && { printf "install ok installed"; exit 0; }; done; exit 1');
  await fake('id', 'echo "$FAKE_UID"');
  await fake('apt-get', 'echo "$*" >> "$FAKE_APT_LOG"');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Case {
  installed: string[];
  uid: number;
  aptGet?: boolean;
  env?: Record<string, string>;
}

async function run(c: Case) {
  const log = join(dir, `apt-${Math.random().toString(36).slice(2)}.log`);
  await writeFile(log, '');
  if (c.aptGet === false) await rm(join(dir, 'apt-get'));
  try {
    const r = spawnSync('/bin/bash', [SCRIPT], {
      encoding: 'utf8',
      env: { PATH: dir, FAKE_INSTALLED: c.installed.join(' '), FAKE_UID: String(c.uid), FAKE_APT_LOG: log, ...c.env },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, apt: (await readFile(log, 'utf8')).trim().split('\n').filter(Boolean) };
  } finally {
    if (c.aptGet === false) {
      await writeFile(join(dir, 'apt-get'), '#!/bin/bash\necho "$*" >> "$FAKE_APT_LOG"\n');
      await chmod(join(dir, 'apt-get'), 0o755);
    }
  }
}

describe('scripts/system-packages.sh', () => {
  it('is silent and calls nothing when every package is installed (root or not)', async () => {
    for (const uid of [0, 1000]) {
      const r = await run({ installed: ALL, uid });
      expect(r).toEqual({ status: 0, stdout: '', stderr: '', apt: [] });
    }
  });

  it('as root with apt-get, installs exactly the missing packages', async () => {
    const r = await run({ installed: ['chromium', 'python3-numpy', 'libopenblas0-pthread'], uid: 0 });
    expect(r.status).toBe(0);
    expect(r.apt).toEqual(['update', 'install -y firefox-esr python3-torch']);
  });

  it('not root: stops with the one command that installs the missing packages, installs nothing', async () => {
    const r = await run({ installed: ['firefox-esr', 'python3-torch', 'libopenblas0-pthread', 'python3-numpy'], uid: 1000 });
    expect(r.status).toBe(1);
    expect(r.apt).toEqual([]);
    expect(r.stderr).toContain('sudo apt-get update && sudo apt-get install -y chromium\n');
  });

  it('root without apt-get: stops with the command instead of failing halfway', async () => {
    const r = await run({ installed: [], uid: 0, aptGet: false });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`apt-get install -y ${ALL.join(' ')}\n`);
  });

  it('CHROMIUM_PATH / FIREFOX_PATH pointing at an executable stand in for those packages', async () => {
    const exe = join(dir, 'id');
    const r = await run({
      installed: ['python3-torch', 'libopenblas0-pthread', 'python3-numpy'],
      uid: 1000,
      env: { CHROMIUM_PATH: exe, FIREFOX_PATH: exe },
    });
    expect(r).toMatchObject({ status: 0, stderr: '', apt: [] });
    const missingPath = await run({ installed: ALL.slice(1), uid: 1000, env: { CHROMIUM_PATH: join(dir, 'nope') } });
    expect(missingPath.status).toBe(1);
    expect(missingPath.stderr).toContain('install -y chromium\n');
  });

  it('without dpkg-query, says what it needs and stops', async () => {
    const r = spawnSync('/bin/bash', [SCRIPT], { encoding: 'utf8', env: { PATH: join(dir, 'empty') } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(ALL.join(' '));
  });
});
