#!/usr/bin/env python3
"""Convert a Practical-RIFE release's flownet.pkl to .safetensors, the file wan-video loads.

    python scripts/convert-rife.py train_log/flownet.pkl flownet.safetensors

flownet.pkl is a torch pickle (a state dict saved from DistributedDataParallel, so its names start
with "module."); reading a pickle needs Python, hence this script rather than a wan-video command.
It needs torch and safetensors (pip install torch safetensors). The tensors are written unchanged
(their dtype too) under the names the release's load_model gives them: "module." stripped.
wan-video then checks every name and shape against the IFNet of 4.21-4.26 when it loads the file.
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('pkl', help="the release's flownet.pkl")
    ap.add_argument('out', help='the .safetensors file to write')
    args = ap.parse_args()
    if not args.out.endswith('.safetensors'):
        sys.exit(f'{args.out}: the output must end in .safetensors')
    # weights_only: a state dict needs no code from the pickle.
    state = torch.load(args.pkl, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if not isinstance(state, dict):
        sys.exit(f'{args.pkl}: not a state dict (got {type(state).__name__})')
    tensors = {}
    for name, value in state.items():
        if not torch.is_tensor(value):
            continue
        key = name[len('module.'):] if name.startswith('module.') else name
        if key in tensors:
            sys.exit(f'{args.pkl}: "{key}" is stored twice (with and without "module.")')
        tensors[key] = value.detach().contiguous()
    if not any(k.startswith('encode.') for k in tensors):
        print('warning: no encode.* tensors: this is not the IFNet of RIFE 4.21-4.26, which wan-video implements',
              file=sys.stderr)
    save_file(tensors, args.out, metadata={'format': 'pt', 'source': os.path.basename(args.pkl)})
    blocks = sorted({k.split('.')[0] for k in tensors if k.startswith('block')})
    print(f'wrote {args.out}: {len(tensors)} tensors, {", ".join(blocks)}')


if __name__ == '__main__':
    main()
