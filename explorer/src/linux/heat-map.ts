/**
 * The dirty bitmap as a picture: one pixel per 4 KiB page, 256 pages (1 MiB) per row, lowest
 * address at the top left. Drawn at most once per animation frame, however many hints arrive.
 */
import { PageState, type PageMap } from './page-map.js';

/** Colours per state, and what the legend says about them. */
export const LEGEND: ReadonlyArray<{ readonly state: PageState; readonly colour: string; readonly label: string }> = [
  { state: PageState.Dirty, colour: '#e8743b', label: 'dirty: in the bitmap, to be sent' },
  { state: PageState.Hinted, colour: '#2e9e5b', label: 'cleared by a hint this round' },
  { state: PageState.Held, colour: '#a8dbb8', label: 'hinted earlier, still held by the driver' },
  { state: PageState.Clean, colour: '#e4e9ef', label: 'clean: unchanged since the last sync' },
  { state: PageState.Hole, colour: '#56606b', label: 'not RAM (VGA/BIOS hole)' },
];

const PER_ROW = 256;

function rgba(hex: string): number {
  const n = Number.parseInt(hex.slice(1), 16);
  // ImageData is little-endian RGBA as a Uint32: alpha in the top byte.
  return (0xff << 24) | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff);
}

export class HeatMap {
  readonly #context: CanvasRenderingContext2D;
  readonly #image: ImageData;
  readonly #colours = new Uint32Array(8);
  #pending = false;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly map: PageMap,
  ) {
    canvas.width = PER_ROW;
    canvas.height = Math.ceil(map.pages / PER_ROW);
    const context = canvas.getContext('2d');
    if (!context) throw new Error('no 2D canvas');
    this.#context = context;
    this.#image = context.createImageData(canvas.width, canvas.height);
    for (const { state, colour } of LEGEND) this.#colours[state] = rgba(colour);
    this.draw();
  }

  /** Redraw on the next frame (several calls before it draw once). */
  draw(): void {
    if (this.#pending) return;
    this.#pending = true;
    requestAnimationFrame(() => {
      this.#pending = false;
      const pixels = new Uint32Array(this.#image.data.buffer);
      const states = this.map.states;
      for (let pfn = 0; pfn < states.length; pfn++) pixels[pfn] = this.#colours[states[pfn]!]!;
      this.#context.putImageData(this.#image, 0, 0);
    });
  }
}
