/** The page `mann visualize` writes: one memory picture, self-contained. */

import { escapeHtml } from './format.js';
import { memoryPanels, memoryPictureSpec } from './memory-picture.js';
import { figure, htmlPage } from './page.js';
import { renderSvg } from './render.js';
import type { MemoryPicture } from './types.js';

/** Width of the time axis on the page of its own, pixels: about twice the report's. */
export const VISUALIZE_PICTURE_WIDTH = 960;

/**
 * A self-contained HTML page showing the memory of one run at work on one sample: inputs,
 * targets, outputs, then the read and write weightings (and usage for the DNC) over time.
 *
 * @throws if the picture's matrices do not share the inputs' time steps (see memoryPanels).
 */
export async function buildMemoryPictureHtml(picture: MemoryPicture): Promise<string> {
  const panels = memoryPanels(picture);
  const svg = await renderSvg(memoryPictureSpec(picture, { width: VISUALIZE_PICTURE_WIDTH }));
  const title = `${picture.modelLabel} on ${picture.task}: memory at work`;
  const answerSteps = picture.mask.filter((m) => m > 0).length;
  const body = `<header>
<h1>${escapeHtml(title)}</h1>
<dl class="meta">
<dt>Run</dt><dd><code>${escapeHtml(picture.runId)}</code></dd>
<dt>Time steps</dt><dd>${picture.inputs.length} (${answerSteps} answer steps)</dd>
<dt>Panels</dt><dd>${escapeHtml(panels.map((p) => p.title).join(', '))}</dd>
</dl>
</header>
<p class="note">Time runs left to right. Targets and outputs are drawn on the answer steps only;
weightings and usage have one row per memory slot. Colour runs from 0 (dark) to 1 (yellow).</p>
${figure(svg)}`;
  return htmlPage(title, body);
}
