/**
 * Plots for BENCHMARKS.md, rendered to SVG offline with Vega (`vega` parses a declarative spec and
 * renders it headless: no browser, no canvas, no native module).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';

export interface Point {
  series: string;
  x: number;
  y: number;
}

export interface LineChart {
  title: string;
  subtitle?: string;
  xTitle: string;
  yTitle: string;
  xScale?: 'linear' | 'log';
  yScale?: 'linear' | 'log';
  points: Point[];
  /** Vertical markers (e.g. a threshold). */
  xMarks?: { x: number; label: string }[];
  /** Horizontal reference lines (e.g. a target). */
  yMarks?: { y: number; label: string }[];
  /** Draw series with a dash pattern when their name contains this text. */
  dashedWhen?: string;
  yZero?: boolean;
}

export function lineChartSpec(chart: LineChart): vega.Spec {
  const points = chart.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: 560,
    height: 300,
    padding: 8,
    background: 'white',
    title: { text: chart.title, subtitle: chart.subtitle ?? '', anchor: 'start', fontSize: 14 },
    data: [
      { name: 'points', values: points },
      { name: 'xmarks', values: chart.xMarks ?? [] },
      { name: 'ymarks', values: chart.yMarks ?? [] },
    ],
    scales: [
      {
        name: 'x',
        type: chart.xScale ?? 'linear',
        domain: { data: 'points', field: 'x' },
        range: 'width',
        nice: chart.xScale !== 'log',
        zero: false,
      },
      {
        name: 'y',
        type: chart.yScale ?? 'linear',
        domain: {
          fields: [
            { data: 'points', field: 'y' },
            { data: 'ymarks', field: 'y' },
          ],
        },
        range: 'height',
        nice: true,
        zero: chart.yZero ?? false,
      },
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: chart.xTitle, grid: true, gridOpacity: 0.3 },
      { orient: 'left', scale: 'y', title: chart.yTitle, grid: true, gridOpacity: 0.3 },
    ],
    legends: [{ fill: 'color', stroke: 'color', orient: 'right', title: '', labelLimit: 280 }],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            sort: { field: 'datum.x' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                stroke: { scale: 'color', field: 'series' },
                strokeWidth: { value: 2 },
                strokeDash: chart.dashedWhen
                  ? { signal: `indexof(datum.series, '${chart.dashedWhen}') >= 0 ? [6, 4] : [1, 0]` }
                  : { value: [1, 0] },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                fill: { scale: 'color', field: 'series' },
                size: { value: 30 },
              },
            },
          },
        ],
      },
      {
        type: 'rule',
        from: { data: 'xmarks' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x' },
            y: { value: 0 },
            y2: { signal: 'height' },
            stroke: { value: '#555' },
            strokeDash: { value: [4, 3] },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'xmarks' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x', offset: 4 },
            y: { value: 12 },
            text: { field: 'label' },
            fontSize: { value: 11 },
            fill: { value: '#333' },
          },
        },
      },
      {
        type: 'rule',
        from: { data: 'ymarks' },
        encode: {
          enter: {
            x: { value: 0 },
            x2: { signal: 'width' },
            y: { scale: 'y', field: 'y' },
            stroke: { value: '#b00' },
            strokeDash: { value: [2, 2] },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'ymarks' },
        encode: {
          enter: {
            x: { signal: 'width', offset: -4 },
            y: { scale: 'y', field: 'y', offset: -4 },
            align: { value: 'right' },
            text: { field: 'label' },
            fontSize: { value: 11 },
            fill: { value: '#b00' },
          },
        },
      },
    ],
  };
  // vega's typings reject a multi-data domain written as a literal; the spec is checked by vega.parse.
  return spec as unknown as vega.Spec;
}

export async function renderSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders every chart to `<dir>/<name>.svg`; returns the file names written. */
export async function writePlots(dir: string, charts: Record<string, LineChart>): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, chart] of Object.entries(charts)) {
    const file = `${name}.svg`;
    writeFileSync(join(dir, file), `${await renderSvg(lineChartSpec(chart))}\n`);
    written.push(file);
  }
  return written;
}
