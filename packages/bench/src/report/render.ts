/** Renders Vega-Lite specs to SVG in Node: no browser, no canvas. */

import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * The SVG markup of `spec`: Vega-Lite compiles it to Vega, a headless view (renderer `none`)
 * runs the dataflow and serialises the scenegraph. Text widths are estimated, as there is no
 * canvas to measure them. The view is finalised even when rendering fails.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
