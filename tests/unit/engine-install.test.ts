/** The installer's decisions, without building anything: wheel tags against a host, the CUDA extra, Node's headers, threads per local worker. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaRequirements, platformMismatch, wheelTags } from '../../src/shared/engine/native/wheel.js';
import { findNodedir } from '../../src/shared/engine/native/prereqs.js';
import { localThreads } from '../../src/launch/local.js';
import { codeOf } from '../helpers/codes.js';

const host = { os: 'linux', arch: 'x64', glibc: '2.36' };

describe('wheel tags', () => {
  it('parses name, version and platform tags', () => {
    expect(wheelTags('/x/tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl')).toEqual({ name: 'tensorflow-cpu', version: '2.21.0', platforms: ['manylinux_2_27_x86_64'] });
    expect(wheelTags('tensorflow-2.21.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')?.platforms).toEqual(['manylinux_2_17_x86_64', 'manylinux2014_x86_64']);
    expect(wheelTags('not-a-wheel.zip')).toBeNull();
  });

  it('accepts a wheel for this CPU and an old-enough glibc, and says why otherwise', () => {
    expect(platformMismatch(['manylinux_2_27_x86_64'], host)).toBeNull();
    expect(platformMismatch(['manylinux2014_x86_64'], host)).toBeNull();
    expect(platformMismatch(['manylinux_2_38_x86_64'], host)).toBe('the wheel needs glibc 2.38 (platform manylinux_2_38_x86_64); this host has glibc 2.36');
    expect(platformMismatch(['manylinux_2_27_aarch64'], host)).toBe('the wheel is for manylinux_2_27_aarch64; this host is linux x86_64');
    expect(platformMismatch(['macosx_12_0_arm64'], host)).toMatch(/is for macosx_12_0_arm64/);
    expect(platformMismatch(['manylinux_2_27_x86_64'], { ...host, os: 'darwin' })).toMatch(/Linux only/);
  });

  it('reads the and-cuda extra from METADATA', () => {
    const meta = 'Name: tensorflow\nRequires-Dist: numpy>=1.26.0\nRequires-Dist: nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"\nRequires-Dist: nvidia-cudnn-cu12 <10.0,>=9.3.0.75 ; extra == \'and-cuda\'\n';
    expect(cudaRequirements(meta)).toEqual(['nvidia-cublas-cu12<13.0,>=12.5.3.2', 'nvidia-cudnn-cu12<10.0,>=9.3.0.75']);
  });
});

describe('Node headers for node-gyp', () => {
  it('are found next to the node binary (PREFIX/include/node), or where npm_config_nodedir says', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'rt-nodedir-'));
    mkdirSync(join(prefix, 'include', 'node'), { recursive: true });
    writeFileSync(join(prefix, 'include', 'node', 'node_api.h'), '');
    expect(findNodedir(join(prefix, 'bin', 'node'), {})).toBe(prefix);
    expect(findNodedir('/nonexistent/bin/node', { npm_config_nodedir: prefix })).toBe(prefix);
    expect(findNodedir('/nonexistent/bin/node', {})).toBeNull();
  });
});

describe('threads per local worker', () => {
  it('is the cores shared among the workers (at least 1), unless --threads says', () => {
    expect(localThreads(undefined, 2, 16)).toBe(8);
    expect(localThreads(undefined, 3, 16)).toBe(5);
    expect(localThreads(undefined, 4, 2)).toBe(1);
    expect(localThreads(3, 4, 2)).toBe(3);
    expect(codeOf(() => localThreads(0, 2, 16))).toBe('RT_BAD_CONFIG');
    expect(codeOf(() => localThreads(1.5, 2, 16))).toBe('RT_BAD_CONFIG');
  });
});
