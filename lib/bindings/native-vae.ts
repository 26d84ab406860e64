// The addon's VAE functions (filled in by the VAE work).
export interface NativeVaeApi {}
