/**
 * Starts one training thread of the playground (`TrainerOptions.workerScript` of @mann/core),
 * on src/training-thread.ts. Written as `new Worker(new URL(...), { type: 'module' })`, the form
 * Vite recognises: it bundles the thread's script with everything it imports.
 */
export const startTrainingThread = (): Worker =>
  new Worker(new URL('./training-thread.ts', import.meta.url), { type: 'module' });
