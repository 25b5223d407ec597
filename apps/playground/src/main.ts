/**
 * The playground page: settings form, learning curve and heatmaps. Training runs in a Web
 * Worker (src/worker.ts) so the page stays responsive. Settings can be given in the URL
 * (`?model=ntm&task=copy&memorySlots=32`), and `autostart=1` starts training on load.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { drawHeatmap } from './heatmap.js';
import { DEFAULT_SETTINGS, SETTING_RANGES, checkSettings } from './protocol.js';
import type {
  CurvePoint,
  FromWorker,
  PlaygroundSettings,
  SampleView,
  ToWorker,
} from './protocol.js';

/** What the page has seen, for people in the console and for the browser tests. */
interface PlaygroundState {
  backend: string | null;
  curve: CurvePoint[];
  samples: number;
  cellsDrawn: number;
  errors: string[];
  running: boolean;
}

const state: PlaygroundState = {
  backend: null,
  curve: [],
  samples: 0,
  cellsDrawn: 0,
  errors: [],
  running: false,
};
(globalThis as unknown as { playground: PlaygroundState }).playground = state;

const form = document.querySelector<HTMLFormElement>('#settings')!;
const stopButton = document.querySelector<HTMLButtonElement>('#stop')!;
const trainButton = document.querySelector<HTMLButtonElement>('#train')!;
const saveButton = document.querySelector<HTMLButtonElement>('#save')!;
const loadInput = document.querySelector<HTMLInputElement>('#load')!;
const status = document.querySelector<HTMLDivElement>('#status')!;

/**
 * Training on several threads needs SharedArrayBuffer and Atomics, which only a cross-origin
 * isolated page has (vite.config.ts sends the headers): elsewhere the threads control is hidden.
 */
const isolated = globalThis.crossOriginIsolated === true;
if (isolated) {
  document.querySelector<HTMLLabelElement>('#threads-control')!.hidden = false;
  form.querySelector<HTMLSelectElement>('select[name=threads]')!.disabled = false;
}

function setStatus(text: string, kind: 'ok' | 'error' = 'ok', data: string = kind): void {
  status.textContent = text;
  status.className = kind === 'error' ? 'error' : '';
  status.dataset.state = data;
}

/** Settings from the URL over the defaults, written into the form. */
function initialSettings(): PlaygroundSettings {
  const query = new URLSearchParams(location.search);
  const given: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_SETTINGS)) {
    const value = query.get(key);
    if (value === null) continue;
    given[key] = key === 'model' || key === 'task' ? value : Number(value);
  }
  try {
    const settings = checkSettings(given);
    if (settings.threads > 1 && !isolated) {
      setStatus(
        `URL: threads=${settings.threads} needs a cross-origin isolated page (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp); training on 1 thread`,
        'error',
        'bad-url',
      );
      return { ...settings, threads: 1 };
    }
    return settings;
  } catch (error) {
    setStatus(`URL: ${(error as Error).message}; using the defaults`, 'error', 'bad-url');
    return DEFAULT_SETTINGS;
  }
}

function writeForm(settings: PlaygroundSettings): void {
  for (const [key, value] of Object.entries(settings)) {
    const field = form.elements.namedItem(key) as HTMLInputElement | HTMLSelectElement | null;
    if (field) field.value = String(value);
  }
}

function readForm(): PlaygroundSettings {
  const data = new FormData(form);
  const given: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_SETTINGS)) {
    const raw = data.get(key);
    if (raw === null) continue; // a disabled control (threads on a page that is not isolated)
    given[key] = key in SETTING_RANGES ? Number(raw) : raw;
  }
  return checkSettings(given);
}

const chart = new uPlot(
  {
    width: Math.max(
      320,
      (document.querySelector<HTMLDivElement>('#curve')!.clientWidth || 480) - 8,
    ),
    height: 260,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: 'sequences' }, { label: 'per sequence (log)' }],
    series: [
      {},
      { label: 'cost, bits', stroke: '#1f77b4', width: 1.5 },
      { label: 'bit errors', stroke: '#d62728', width: 1.5 },
    ],
  },
  [[], [], []],
  document.querySelector<HTMLDivElement>('#curve')!,
);

function drawCurve(): void {
  // A log scale needs positive values: errors of 0 are drawn at 0.01.
  chart.setData([
    state.curve.map((p) => p.sequences),
    state.curve.map((p) => Math.max(p.bitsPerSequence, 0.01)),
    state.curve.map((p) => Math.max(p.bitErrorsPerSequence, 0.01)),
  ]);
}

/** Replaces the figures inside `container` (after its caption) with one heatmap per entry. */
function drawPanels(
  container: HTMLElement,
  panels: readonly { title: string; matrix: number[][]; rowsDown?: boolean }[],
): void {
  for (const old of container.querySelectorAll('.panel')) old.remove();
  for (const { title, matrix, rowsDown } of panels) {
    const wrap = document.createElement('div');
    wrap.className = 'panel';
    const label = document.createElement('figcaption');
    label.textContent = title;
    const canvas = document.createElement('canvas');
    canvas.className = 'heatmap';
    canvas.dataset.name = title;
    state.cellsDrawn += drawHeatmap(canvas, matrix, { rowsDown: rowsDown ?? false });
    wrap.append(label, canvas);
    container.append(wrap);
  }
}

const TRACE_TITLES: Record<string, string> = {
  writeWeights: 'write weighting (head 0)',
  readWeights: 'read weighting (head 0)',
  usage: 'usage',
};

function drawSample(sample: SampleView): void {
  drawPanels(document.querySelector('#sample-panels')!, [
    { title: 'inputs', matrix: sample.inputs },
    { title: 'targets', matrix: sample.targets },
    { title: 'outputs', matrix: sample.outputs },
  ]);
  const memory: { title: string; matrix: number[][]; rowsDown?: boolean }[] = Object.entries(
    TRACE_TITLES,
  )
    .filter(([name]) => sample.traces[name])
    .map(([name, title]) => ({ title, matrix: sample.traces[name]! }));
  if (sample.link) {
    memory.push({
      title: 'temporal link L after the last step (row i, column j)',
      matrix: sample.link,
      rowsDown: true,
    });
  }
  drawPanels(document.querySelector('#memory-panels')!, memory);
}

let worker: Worker | null = null;

function startWorker(): Worker {
  const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  w.onmessage = (event: MessageEvent<FromWorker>) => handle(event.data);
  w.onerror = (event) => {
    state.errors.push(event.message);
    setStatus(`worker failed: ${event.message}`, 'error');
  };
  return w;
}

function handle(message: FromWorker): void {
  switch (message.type) {
    case 'ready':
      state.backend = message.backend;
      setStatus(
        `Ready (TF.js backend: ${message.backend}). Choose a model and a task, then train.`,
        'ok',
        'ready',
      );
      if (new URLSearchParams(location.search).get('autostart') === '1') form.requestSubmit();
      break;
    case 'started':
      setStatus(`Training ${message.description}…`, 'ok', 'training');
      break;
    case 'progress': {
      state.curve.push(message.point);
      drawCurve();
      const p = message.point;
      setStatus(
        `${p.sequences.toLocaleString()} sequences, ${message.sequencesPerSecond.toFixed(0)}/s: cost ${p.bitsPerSequence.toFixed(2)} bits, ${p.bitErrorsPerSequence.toFixed(2)} bit errors per sequence`,
        'ok',
        'training',
      );
      break;
    }
    case 'sample':
      state.samples++;
      drawSample(message.sample);
      break;
    case 'stopped':
      setIdle(true);
      setStatus(`Stopped after ${message.sequences.toLocaleString()} sequences.`, 'ok', 'stopped');
      break;
    case 'saved': {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(
        new Blob([message.bytes], { type: 'application/octet-stream' }),
      );
      link.download = message.name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      setStatus(
        `Saved ${message.name} (${message.bytes.byteLength.toLocaleString()} bytes): \`mann eval ${message.name}\` reads it.`,
        'ok',
        'saved',
      );
      break;
    }
    case 'loaded':
      state.curve = [];
      drawCurve();
      setIdle(true);
      setStatus(
        `Loaded ${message.description}: ${message.bitErrorsPerSequence.toFixed(2)} bit errors, ${message.bitsPerSequence.toFixed(2)} bits per sequence on a fresh batch.`,
        'ok',
        'loaded',
      );
      break;
    case 'error':
      state.errors.push(message.message);
      setIdle(saveButton.disabled === false);
      setStatus(message.message, 'error');
      break;
  }
}

const send = (message: ToWorker): void => worker?.postMessage(message);

/** Buttons for a page that is not training; `model` says whether there is one to save. */
function setIdle(model: boolean): void {
  state.running = false;
  stopButton.disabled = true;
  trainButton.disabled = false;
  loadInput.disabled = false;
  saveButton.disabled = !model;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  let settings: PlaygroundSettings;
  try {
    settings = readForm();
  } catch (error) {
    setStatus((error as Error).message, 'error', 'bad-settings');
    return;
  }
  state.curve = [];
  drawCurve();
  state.running = true;
  stopButton.disabled = false;
  trainButton.disabled = true;
  loadInput.disabled = true;
  saveButton.disabled = false;
  send({ type: 'train', settings });
});

stopButton.addEventListener('click', () => send({ type: 'stop' }));
saveButton.addEventListener('click', () => send({ type: 'save' }));
/** A checkpoint (.ckpt), or an exported layers model (its model.json and weights.bin). */
async function loadFiles(files: File[]): Promise<void> {
  const json = files.find((f) => f.name.endsWith('.json'));
  if (json) {
    const weights = files.find((f) => f !== json);
    if (!weights) {
      setStatus(`choose ${json.name} and its weights file (weights.bin) together`, 'error');
      return;
    }
    setStatus(`Loading ${json.name} and ${weights.name}…`, 'ok', 'loading');
    const bytes = await weights.arrayBuffer();
    const message: ToWorker = { type: 'loadLayers', modelJson: await json.text(), weights: bytes };
    worker?.postMessage(message, [bytes]);
    return;
  }
  const file = files[0];
  if (!file) return;
  setStatus(`Loading ${file.name}…`, 'ok', 'loading');
  const bytes = await file.arrayBuffer();
  worker?.postMessage({ type: 'load', bytes, name: file.name } satisfies ToWorker, [bytes]);
}

loadInput.addEventListener('change', () => {
  const files = [...(loadInput.files ?? [])];
  loadInput.value = '';
  void loadFiles(files);
});

writeForm(initialSettings());
worker = startWorker();
