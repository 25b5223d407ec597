import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BACKEND_ENV_VAR,
  BACKENDS,
  BROWSER_BACKENDS,
  NODE_BACKENDS,
  currentBackend,
  isNode,
  describeBackend,
  MannError,
  selectBackend,
} from '@mann/core';

/** Whether @tensorflow/tfjs-node loads on this machine (it cannot install here, TFJS-NOTES). */
async function nodeBackendLoads(): Promise<boolean> {
  const name = '@tensorflow/tfjs-node';
  try {
    await import(/* @vite-ignore */ name);
    return true;
  } catch {
    return false;
  }
}

afterEach(() => {
  vi.unstubAllEnvs();
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await selectBackend({ backend: 'wasm' });
});

describe('selectBackend', () => {
  it('picks tfjs-node when it loads, else wasm, and reports what it skipped and why', async () => {
    vi.stubEnv(BACKEND_ENV_VAR, undefined);
    const log = vi.fn();
    const info = await selectBackend({ log });
    expect(info.requested).toBe('auto');
    expect(info.source).toBe('default');
    expect(tf.getBackend()).toBe(info.name);
    if (await nodeBackendLoads()) {
      expect(info.name).toBe('tensorflow');
      expect(info.skipped).toEqual([]);
    } else {
      expect(info.name).toBe('wasm');
      expect(info.skipped).toHaveLength(1);
      expect(info.skipped[0]?.name).toBe('tensorflow');
      expect(info.skipped[0]?.reason).toMatch(/tfjs-node/);
    }
    expect(log).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith(describeBackend(info));
    expect(currentBackend()).toBe(info);
    // Production mode is what silences the cpu backend's console banner.
    expect(tf.env().getBool('PROD')).toBe(true);
  });

  it('returns the same choice when called again, and still reports it', async () => {
    vi.stubEnv(BACKEND_ENV_VAR, undefined);
    const first = await selectBackend();
    const log = vi.fn();
    const second = await selectBackend({ log });
    expect(second).toBe(first);
    expect(log).toHaveBeenCalledWith(describeBackend(first));
  });

  it('the backend option forces a backend', async () => {
    vi.stubEnv(BACKEND_ENV_VAR, undefined);
    const info = await selectBackend({ backend: 'cpu' });
    expect(info).toMatchObject({ name: 'cpu', requested: 'cpu', source: 'option', skipped: [] });
    expect(tf.getBackend()).toBe('cpu');
    const back = await selectBackend({ backend: 'wasm' });
    expect(back).toMatchObject({ name: 'wasm', source: 'option' });
    expect(tf.getBackend()).toBe('wasm');
  });

  it(`${BACKEND_ENV_VAR} overrides the automatic choice, and the option overrides ${BACKEND_ENV_VAR}`, async () => {
    vi.stubEnv(BACKEND_ENV_VAR, 'cpu');
    const fromEnv = await selectBackend();
    expect(fromEnv).toMatchObject({ name: 'cpu', requested: 'cpu', source: 'environment' });
    expect(tf.getBackend()).toBe('cpu');
    expect(describeBackend(fromEnv)).toBe('backend: cpu (cpu from environment)');
    const fromOption = await selectBackend({ backend: 'wasm' });
    expect(fromOption).toMatchObject({ name: 'wasm', source: 'option' });
    expect(tf.getBackend()).toBe('wasm');
  });

  it(`a bad ${BACKEND_ENV_VAR} value is an error naming the variable, the value and the choices`, async () => {
    vi.stubEnv(BACKEND_ENV_VAR, 'gpu');
    const error = await selectBackend().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MannError);
    expect((error as Error).message).toBe(
      `${BACKEND_ENV_VAR} must be one of tensorflow, webgpu, webgl, wasm, cpu, auto, got gpu`,
    );
  });

  it('a bad backend option is an error naming the option, the value and the choices', async () => {
    vi.stubEnv(BACKEND_ENV_VAR, undefined);
    const error = await selectBackend({ backend: 'gpu' as 'cpu' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MannError);
    expect((error as Error).message).toBe(
      'backend must be one of tensorflow, webgpu, webgl, wasm, cpu, auto, got gpu',
    );
  });

  it('the browser backends fail in Node with the reason, and auto never tries them here', async () => {
    vi.stubEnv(BACKEND_ENV_VAR, undefined);
    expect(isNode()).toBe(true);
    const before = await selectBackend({ backend: 'wasm' });
    await expect(selectBackend({ backend: 'webgl' })).rejects.toThrow(
      "backend 'webgl' (from option) failed to load: WebGL needs a browser",
    );
    await expect(selectBackend({ backend: 'webgpu' })).rejects.toThrow(
      /^backend 'webgpu' \(from option\) failed to load: not registered: import '@tensorflow\/tfjs-backend-webgpu'/,
    );
    expect(currentBackend()).toBe(before);
    expect(NODE_BACKENDS).toEqual(['tensorflow', 'wasm', 'cpu']);
    expect(BROWSER_BACKENDS).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
  });

  it('a forced backend that fails to load is an error, not a silent fallback', async () => {
    if (await nodeBackendLoads()) return; // nothing fails to load on this machine
    vi.stubEnv(BACKEND_ENV_VAR, undefined);
    const before = await selectBackend({ backend: 'wasm' });
    await expect(selectBackend({ backend: 'tensorflow' })).rejects.toThrow(
      /^backend 'tensorflow' \(from option\) failed to load: .*tfjs-node/,
    );
    vi.stubEnv(BACKEND_ENV_VAR, 'tensorflow');
    await expect(selectBackend()).rejects.toThrow(
      /^backend 'tensorflow' \(from environment\) failed to load/,
    );
    expect(tf.getBackend()).toBe('wasm');
    expect(currentBackend()).toBe(before);
  });
});

describe('describeBackend', () => {
  it('says which backend, why, and what was unavailable', () => {
    expect(
      describeBackend({
        name: 'wasm',
        requested: 'auto',
        source: 'default',
        skipped: [{ name: 'tensorflow', reason: 'no binding' }],
      }),
    ).toBe('backend: wasm (auto; tensorflow unavailable: no binding)');
    expect(describeBackend({ name: 'cpu', requested: 'cpu', source: 'option', skipped: [] })).toBe(
      'backend: cpu (cpu from option)',
    );
    expect(BACKENDS).toEqual(['tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu']);
  });
});

// The console banner only shows once per process, so this runs the package in fresh Node
// processes: the sources are transpiled (types stripped) into a temporary directory.
describe('no TF.js banner on stdout or stderr', () => {
  let directory = '';

  beforeAll(async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const src = fileURLToPath(new URL('../src', import.meta.url));
    directory = await mkdtemp(join(tmpdir(), 'mann-backend-test-'));
    await symlink(join(root, 'node_modules'), join(directory, 'node_modules'), 'dir');
    await writeFile(join(directory, 'package.json'), '{ "type": "module" }\n');
    const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
    for (const file of files) {
      const { outputText } = ts.transpileModule(await readFile(join(src, file), 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
      });
      const out = join(directory, 'lib', file.replace(/\.ts$/, '.js'));
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, outputText);
    }
    await writeFile(
      join(directory, 'probe.mjs'),
      `import * as tf from '@tensorflow/tfjs';
const mode = process.argv[2];
if (mode === 'plain-tfjs') {
  await tf.setBackend('cpu');
} else {
  const { selectBackend } = await import('./lib/index.js');
  const info = await selectBackend(mode === 'cpu' ? { backend: 'cpu' } : {});
  process.stdout.write(JSON.stringify({ name: info.name, source: info.source, prod: tf.env().getBool('PROD') }) + '\\n');
}
tf.tensor([1, 2, 3]).square().dataSync();
`,
    );
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const probe = (mode: string, backendVariable?: string) =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const env = { ...process.env };
      delete env[BACKEND_ENV_VAR];
      if (backendVariable) env[BACKEND_ENV_VAR] = backendVariable;
      execFile(
        process.execPath,
        ['probe.mjs', mode],
        { cwd: directory, env, timeout: 30_000 },
        (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr })),
      );
    });

  it('prints nothing but the probe line with cpu (option), cpu (environment) and auto', async () => {
    const [cpu, fromEnv, auto, plain] = await Promise.all([
      probe('cpu'),
      probe('auto', 'cpu'),
      probe('auto'),
      probe('plain-tfjs'),
    ]);
    // Control: plain TF.js on the cpu backend does print the banner, so the probe can see it.
    expect(plain.stderr + plain.stdout).toContain('Hi, looks like you are running TensorFlow.js');
    expect(cpu).toEqual({
      stdout: '{"name":"cpu","source":"option","prod":true}\n',
      stderr: '',
    });
    expect(fromEnv).toEqual({
      stdout: '{"name":"cpu","source":"environment","prod":true}\n',
      stderr: '',
    });
    expect(auto.stderr).toBe('');
    expect(auto.stdout).toMatch(
      /^\{"name":"(wasm|tensorflow)","source":"default","prod":true\}\n$/,
    );
  });
});
