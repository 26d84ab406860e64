// Every tensor AutoencoderKLWan has for a config (diffusers names), with its shape and the config
// fields that decide that shape; the same walk over the levels as the native binder.

import type { VaeConfig, VaeParts } from './types.js';
import type { VaeConfigField } from './vae-config.js';

export interface VaeTensorSpec {
  shape: number[];
  from: VaeConfigField[];
}

export function expectedVaeTensorSpecs(c: VaeConfig, parts: VaeParts = 'both'): Map<string, VaeTensorSpec> {
  const specs = new Map<string, VaeTensorSpec>();
  const add = (name: string, shape: number[], from: VaeConfigField[]) => specs.set(name, { shape, from });
  const conv = (name: string, cin: number, cout: number, k: number[], from: VaeConfigField[]) => {
    add(`${name}.weight`, [cout, cin, ...k], from);
    add(`${name}.bias`, [cout], from);
  };
  const conv3 = (name: string, cin: number, cout: number, from: VaeConfigField[]) => conv(name, cin, cout, [3, 3, 3], from);
  const resnet = (p: string, cin: number, cout: number, from: VaeConfigField[]) => {
    add(`${p}.norm1.gamma`, [cin, 1, 1, 1], from);
    conv3(`${p}.conv1`, cin, cout, from);
    add(`${p}.norm2.gamma`, [cout, 1, 1, 1], from);
    conv3(`${p}.conv2`, cout, cout, from);
    if (cin !== cout) conv(`${p}.conv_shortcut`, cin, cout, [1, 1, 1], from);
  };
  const mid = (p: string, dim: number, from: VaeConfigField[]) => {
    resnet(`${p}.resnets.0`, dim, dim, from);
    add(`${p}.attentions.0.norm.gamma`, [dim, 1, 1], from);
    conv(`${p}.attentions.0.to_qkv`, dim, 3 * dim, [1, 1], from);
    conv(`${p}.attentions.0.proj`, dim, dim, [1, 1], from);
    resnet(`${p}.resnets.1`, dim, dim, from);
  };
  const L = c.dimMult.length;
  const nrb = c.numResBlocks;

  if (parts !== 'decoder') {
    const dims = [c.baseDim, ...c.dimMult.map((m) => c.baseDim * m)];
    const from: VaeConfigField[] = ['baseDim', 'dimMult'];
    conv3('encoder.conv_in', c.inChannels, dims[0], ['inChannels', 'baseDim']);
    let flat = 0;
    for (let i = 0; i < L; i++) {
      let cin = dims[i];
      const cout = dims[i + 1];
      for (let j = 0; j < nrb; j++) {
        resnet(c.isResidual ? `encoder.down_blocks.${i}.resnets.${j}` : `encoder.down_blocks.${flat++}`, cin, cout, [...from, 'numResBlocks']);
        cin = cout;
      }
      if (i === L - 1) continue;
      const p = c.isResidual ? `encoder.down_blocks.${i}.downsampler` : `encoder.down_blocks.${flat++}`;
      conv(`${p}.resample.1`, cout, cout, [3, 3], from);
      if (c.temperalDownsample[i]) conv(`${p}.time_conv`, cout, cout, [3, 1, 1], [...from, 'temperalDownsample']);
    }
    mid('encoder.mid_block', dims[L], from);
    add('encoder.norm_out.gamma', [dims[L], 1, 1, 1], from);
    conv3('encoder.conv_out', dims[L], 2 * c.zDim, [...from, 'zDim']);
    conv('quant_conv', 2 * c.zDim, 2 * c.zDim, [1, 1, 1], ['zDim']);
  }

  if (parts !== 'encoder') {
    conv('post_quant_conv', c.zDim, c.zDim, [1, 1, 1], ['zDim']);
    const dims = [c.dimMult[L - 1], ...[...c.dimMult].reverse()].map((m) => c.decoderBaseDim * m);
    const from: VaeConfigField[] = ['decoderBaseDim', 'dimMult'];
    conv3('decoder.conv_in', c.zDim, dims[0], ['zDim', ...from]);
    mid('decoder.mid_block', dims[0], from);
    const temperalUpsample = [...c.temperalDownsample].reverse();
    for (let i = 0; i < L; i++) {
      // Wan2.1's upsamplers halve the width, so every level after the first starts at half.
      let cin = i > 0 && !c.isResidual ? dims[i] / 2 : dims[i];
      const cout = dims[i + 1];
      for (let j = 0; j <= nrb; j++) {
        resnet(`decoder.up_blocks.${i}.resnets.${j}`, cin, cout, [...from, 'numResBlocks', 'isResidual']);
        cin = cout;
      }
      if (i === L - 1) continue;
      const p = c.isResidual ? `decoder.up_blocks.${i}.upsampler` : `decoder.up_blocks.${i}.upsamplers.0`;
      conv(`${p}.resample.1`, cout, c.isResidual ? cout : cout / 2, [3, 3], [...from, 'isResidual']);
      if (temperalUpsample[i]) conv(`${p}.time_conv`, cout, 2 * cout, [3, 1, 1], [...from, 'temperalDownsample']);
    }
    add('decoder.norm_out.gamma', [dims[L], 1, 1, 1], from);
    conv3('decoder.conv_out', dims[L], c.outChannels, ['outChannels', ...from]);
  }
  return specs;
}

/** Canonical name -> shape of every tensor the VAE has for this config. */
export function expectedVaeTensors(c: VaeConfig, parts: VaeParts = 'both'): Map<string, number[]> {
  return new Map([...expectedVaeTensorSpecs(c, parts)].map(([k, v]) => [k, v.shape]));
}
