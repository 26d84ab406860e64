/** An RGB image, HWC: 3 values a pixel, row-major; uint8, or 0..255 numbers (the fixtures store floats). */
export interface RgbImage {
  data: ArrayLike<number>;
  width: number;
  height: number;
}
