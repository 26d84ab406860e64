// Limits of a request that more than one place enforces, declared once.

/**
 * The most denoising steps a request may ask for. The canonical schema, the Oxen adapter and the
 * step-cache windows take their ranges from it, and the generation plan refuses a larger count
 * before any work (the native loop has no limit of its own: it runs what the plan says). 100 is
 * twice the largest reference default (50 steps, Wan2.1 T2V and TI2V 5B) and above every hosted
 * API's documented maximum (fal 40, Runware 50).
 */
export const MAX_STEPS = 100;
