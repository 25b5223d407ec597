// Core's own training-thread script for Node (node:worker_threads), started by TrainingThreads
// (threads.ts) when no TrainerOptions.workerScript is given: serves the thread with the modules
// of TrainerOptions.workerModules. See thread-serve.ts.
import { serveTrainingThread } from '../index.js';

serveTrainingThread();
