import { describe, expect, it } from 'vitest';

import { cpuInfo, simdInfo } from '../../core/native/index.js';

describe('cpuInfo', () => {
  it('names the CPU and its extensions, consistent with the SIMD level the kernels chose', () => {
    const cpu = cpuInfo();
    const simd = simdInfo();
    expect(cpu.features).toEqual([...new Set(cpu.features)]);
    if (process.arch === 'x64') {
      expect(cpu.vendor).toMatch(/^[\x20-\x7e]{12}$/); // cpuid's twelve-character vendor id
      expect(cpu.features).toContain('sse2'); // every x86-64 CPU has it
      // The kernels' dispatch and this description read the same cpuid bits and OS register state.
      expect(cpu.features.includes('avx512f')).toBe(simd.detected === 'avx512');
      if (simd.detected === 'avx2') expect(cpu.features).toEqual(expect.arrayContaining(['avx2', 'fma', 'f16c']));
      for (const f of cpu.features)
        expect(f).toMatch(
          /^(sse2|sse4_2|avx|fma|f16c|avx2|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avx512_fp16|amx_tile)$/,
        );
    } else if (process.arch === 'arm64') {
      expect(cpu.features).toEqual(['neon']);
    }
    expect(cpu.model).toBe(cpu.model.trim());
  });
});
