// The one place the server encodes frames into a result file (lib/video's writer: mp4/webm/mov
// through ffmpeg with the request's quality and write mode, or a PNG contact sheet).
import { WanError } from '../errors.js';
import type { GenerateRequest } from '../schemas/request.js';
import { type FrameSink, openOutput } from '../video/output.js';

export type ResultFormat = 'mp4' | 'webm' | 'mov' | 'png';

/** The file extension of the request's output format. */
export function resultFormat(output: GenerateRequest['output']): ResultFormat {
  if (output.format === 'contact-sheet') return 'png';
  if (output.format === 'png') throw new WanError('E_UNSUPPORTED', 'output.format "png" (a folder of frames) is not served; use mp4, webm, mov or contact-sheet');
  return output.format;
}

/** The result file's sink; its fps comes with each batch of frames. */
export function openResultFile(file: string, output: GenerateRequest['output']): FrameSink {
  const format = resultFormat(output);
  return openOutput({ path: file, format: format === 'png' ? 'contact-sheet' : format, quality: output.quality, writeMode: output.writeMode });
}
